//! A plugin built against the frozen contract `sluice:plugin@0.1.0` (without the SDK, so it
//! stays on that version when the SDK moves on). Each record becomes one row: primary key
//! `offset` (int64), column `value` (the value as text) and `headers` (their count, int32);
//! a record whose value is `reject` is refused with the code `rejected`. The host lifts these
//! outputs through the canonical ABI, not the compact encoding.
#![allow(missing_docs)]

wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "parser" });

use sluice::plugin::types::{Column, KafkaRecord, Output, PluginError, Row, Value, WriteKind};

struct Old;

impl exports::sluice::plugin::parsing::Guest for Old {
    fn configure(_settings: Vec<(String, String)>) -> Result<(), PluginError> {
        Ok(())
    }

    fn parse(batch: Vec<KafkaRecord>) -> Vec<Result<Vec<Output>, PluginError>> {
        batch.iter().map(parse_one).collect()
    }
}

fn parse_one(record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
    let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
    if value == "reject" {
        return Err(PluginError { code: "rejected".into(), message: "asked to reject".into(), field: None });
    }
    Ok(vec![Output::Row(Row {
        table: None,
        kind: WriteKind::Put,
        primary_key: vec![Column { name: "offset".into(), value: Value::Int64(record.offset) }],
        columns: vec![
            Column { name: "value".into(), value: Value::Text(value) },
            Column { name: "headers".into(), value: Value::Int32(record.headers.len() as i32) },
        ],
        deleted_columns: Vec::new(),
    })])
}

export!(Old);
