//! `runtime.error.mode=tablestore`: failed records are written to an error table with the
//! primary key `topic_partition` (STRING `<topic>_<partition>`), `offset` (INTEGER) and the
//! columns `error_info` (STRING), `key` and `value` (BINARY, the record's original bytes,
//! omitted when null). The table is created when missing, like a dead-letter topic.

use super::client::Client;
use super::config::{KeyColumn, TablestoreConfig};
use super::plainbuffer::{self, Value};
use super::protocol::{self, PrimaryKeyType};
use super::request::{MAX_ATTRIBUTE_VALUE, MAX_BYTES, MAX_ROWS};
use super::table::{self, TableError};
use crate::config::ConnectorConfig;
use crate::model::KafkaRecord;
use crate::pipeline::dead_letter::{BoxFuture, DeadLetterError, DeadLetterTarget, Failure};

/// The Tablestore error table.
pub struct ErrorTable {
    client: Client,
    table: String,
}

/// The error table's primary key.
fn error_key() -> Vec<KeyColumn> {
    vec![
        KeyColumn { name: "topic_partition".into(), kind: PrimaryKeyType::String, auto_increment: false },
        KeyColumn { name: "offset".into(), kind: PrimaryKeyType::Integer, auto_increment: false },
    ]
}

impl ErrorTable {
    /// Connects with the connector's Tablestore settings and checks (or creates) `table`.
    pub async fn open(connector: &ConnectorConfig, table: &str) -> anyhow::Result<Self> {
        let config = TablestoreConfig::from_connector(connector)?;
        let client = Client::new(config.client)?;
        table::ensure(&client, table, Some(&error_key()), true, "`runtime.error.table.name`").await.map_err(
            |e| match e {
                TableError::Fatal(m) | TableError::Retryable(m) => anyhow::anyhow!("error table `{table}`: {m}"),
            },
        )?;
        Ok(Self { client, table: table.to_string() })
    }

    fn encode(record: &KafkaRecord, failure: &Failure) -> Vec<u8> {
        let topic_partition = format!("{}_{}", record.topic, record.partition);
        let mut info = failure.describe(record);
        let mut columns: Vec<(&str, Value<'_>)> = Vec::with_capacity(3);
        for (name, bytes) in [("key", &record.key), ("value", &record.value)] {
            match bytes {
                Some(b) if b.len() <= MAX_ATTRIBUTE_VALUE => columns.push((name, Value::Binary(b))),
                Some(b) => info.push_str(&format!(" [{name} of {} bytes not stored: over 2 MB]", b.len())),
                None => {}
            }
        }
        columns.insert(0, ("error_info", Value::String(&info)));
        let pk = [("topic_partition", Value::String(&topic_partition)), ("offset", Value::Integer(record.offset))];
        plainbuffer::encode_put(&pk, &columns)
    }

    async fn write(&self, failed: &[(&KafkaRecord, &Failure)]) -> Result<(), String> {
        let mut request_rows: Vec<protocol::RowInBatchWriteRowRequest> = Vec::new();
        let mut bytes = 0;
        let mut requests = Vec::new();
        for (record, failure) in failed {
            let row_change = Self::encode(record, failure);
            if request_rows.len() == MAX_ROWS || bytes + row_change.len() > MAX_BYTES {
                requests.push(std::mem::take(&mut request_rows));
                bytes = 0;
            }
            bytes += row_change.len();
            request_rows.push(protocol::RowInBatchWriteRowRequest {
                r#type: protocol::OperationType::Put as i32,
                row_change: row_change.into(),
                condition: protocol::Condition {
                    row_existence: protocol::RowExistenceExpectation::Ignore as i32,
                    column_condition: None,
                },
            });
        }
        requests.push(request_rows);
        for rows in requests.into_iter().filter(|r| !r.is_empty()) {
            let request = protocol::BatchWriteRowRequest {
                tables: vec![protocol::TableInBatchWriteRowRequest { table_name: self.table.clone(), rows }],
            };
            let response: protocol::BatchWriteRowResponse =
                self.client.call("BatchWriteRow", &request, true).await.map_err(|e| e.to_string())?;
            for row in response.tables.iter().flat_map(|t| &t.rows) {
                if !row.is_ok {
                    let error =
                        row.error.clone().unwrap_or(protocol::Error { code: "OTSUnknown".into(), message: None });
                    return Err(format!(
                        "writing to error table `{}` failed: {}: {}",
                        self.table,
                        error.code,
                        error.message.unwrap_or_default()
                    ));
                }
            }
        }
        Ok(())
    }
}

impl DeadLetterTarget for ErrorTable {
    fn describe(&self) -> String {
        format!("Tablestore error table {}", self.table)
    }

    fn send<'a>(
        &'a self,
        _task: usize,
        failed: &'a [(&'a KafkaRecord, &'a Failure)],
    ) -> BoxFuture<'a, Result<(), DeadLetterError>> {
        Box::pin(async move { self.write(failed).await.map_err(DeadLetterError::retryable) })
    }
}
