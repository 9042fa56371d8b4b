//! Destination tables: `DescribeTable` to learn (and check) a table's primary key, and with
//! `auto.create` a `CreateTable` (TTL -1, one version, no reserved throughput) followed by a
//! wait until the table answers.

use std::time::Duration;

use super::client::{Client, OtsError};
use super::config::KeyColumn;
use super::protocol::{self, PrimaryKeyOption, PrimaryKeyType};

/// Why a table cannot be used.
#[derive(Debug)]
pub enum TableError {
    /// Not worth retrying: the table is missing or differs from the configuration.
    Fatal(String),
    /// Tablestore could not be asked right now.
    Retryable(String),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Fatal(m) | TableError::Retryable(m) => f.write_str(m),
        }
    }
}

fn from_ots(error: OtsError) -> TableError {
    if error.class(true).retryable() {
        TableError::Retryable(error.to_string())
    } else {
        TableError::Fatal(error.to_string())
    }
}

/// The primary key of an existing table, as key columns.
fn key_of(meta: &protocol::TableMeta) -> Vec<KeyColumn> {
    meta.primary_key
        .iter()
        .map(|c| KeyColumn {
            name: c.name.clone(),
            kind: PrimaryKeyType::try_from(c.r#type).unwrap_or(PrimaryKeyType::Binary),
            auto_increment: c.option == Some(PrimaryKeyOption::AutoIncrement as i32),
        })
        .collect()
}

fn describe_key(key: &[KeyColumn]) -> String {
    key.iter()
        .map(|c| {
            let kind =
                if c.auto_increment { "auto_increment".to_string() } else { format!("{:?}", c.kind).to_lowercase() };
            format!("{} {kind}", c.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The primary key of `table` when it exists, read with `DescribeTable` only (nothing is
/// created): for previews and the schema check.
pub async fn describe(client: &Client, table: &str) -> Result<Option<Vec<KeyColumn>>, TableError> {
    Ok(client.describe_table(table).await.map_err(from_ots)?.map(|d| key_of(&d.table_meta)))
}

/// A primary key as `name type, …` (for messages).
pub fn describe_key_columns(key: &[KeyColumn]) -> String {
    describe_key(key)
}

/// Makes sure `table` exists with the `wanted` primary key (when known), creating it if
/// `create` is set. Returns the table's primary key.
pub async fn ensure(
    client: &Client,
    table: &str,
    wanted: Option<&[KeyColumn]>,
    create: bool,
    hint: &str,
) -> Result<Vec<KeyColumn>, TableError> {
    let instance = &client.config().instance;
    if let Some(described) = client.describe_table(table).await.map_err(from_ots)? {
        let actual = key_of(&described.table_meta);
        if let Some(wanted) = wanted {
            if wanted != actual.as_slice() {
                return Err(TableError::Fatal(format!(
                    "table `{table}` in instance `{instance}` has the primary key ({}) but the connector is \
                     configured for ({}); fix {hint} or write to another table",
                    describe_key(&actual),
                    describe_key(wanted)
                )));
            }
        }
        return Ok(actual);
    }
    if !create {
        return Err(TableError::Fatal(format!(
            "table `{table}` does not exist in instance `{instance}`; create it or set `auto.create=true`"
        )));
    }
    let Some(wanted) = wanted else {
        return Err(TableError::Fatal(format!(
            "table `{table}` does not exist and cannot be created: set `tablestore.{table}.primarykey.name` and \
             `tablestore.{table}.primarykey.type`"
        )));
    };
    let request = protocol::CreateTableRequest {
        table_meta: protocol::TableMeta {
            table_name: table.to_string(),
            primary_key: wanted
                .iter()
                .map(|c| protocol::PrimaryKeySchema {
                    name: c.name.clone(),
                    r#type: c.kind as i32,
                    option: c.auto_increment.then_some(PrimaryKeyOption::AutoIncrement as i32),
                })
                .collect(),
            defined_column: Vec::new(),
        },
        reserved_throughput: protocol::ReservedThroughput {
            capacity_unit: protocol::CapacityUnit { read: Some(0), write: Some(0) },
        },
        table_options: Some(protocol::TableOptions {
            time_to_live: Some(-1),
            max_versions: Some(1),
            deviation_cell_version_in_sec: None,
            allow_update: None,
        }),
    };
    client.create_table(&request).await.map_err(from_ots)?;
    tracing::info!(table, instance = %instance, key = %describe_key(wanted), "Created Tablestore table.");
    // A new table takes a moment to load; the Java connector polls 20 times a second apart.
    for _ in 0..20 {
        if client.describe_table(table).await.map_err(from_ots)?.is_some() {
            return Ok(wanted.to_vec());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(TableError::Retryable(format!("table `{table}` was created but is not usable yet")))
}
