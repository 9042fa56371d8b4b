//! The Tablestore connector's `DefaultEventParser` semantics: tables, typed keys,
//! whitelists, put vs update, and every cell of the "Delete syntax" table.

use sluice_parser_json::JsonParser;
use sluice_plugin_sdk::{Column, KafkaRecord, Output, Parser, PluginError, Row, Settings, Value, WriteKind};

fn parser(extra: &[(&str, &str)]) -> Result<JsonParser, PluginError> {
    let mut settings = vec![
        ("sluice.sink.mode", "tablestore"),
        ("value.converter.schemas.enable", "false"),
        ("key.converter.schemas.enable", "false"),
    ];
    settings.extend_from_slice(extra);
    JsonParser::configure(settings.into_iter().collect::<Settings>())
}

fn record(key: Option<&str>, value: Option<&str>) -> KafkaRecord {
    KafkaRecord {
        topic: "orders".into(),
        partition: 2,
        offset: 7,
        timestamp_ms: Some(1_700_000_000_000),
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        headers: Vec::new(),
    }
}

fn row(result: Result<Vec<Output>, PluginError>) -> Row {
    match result.expect("parses").pop() {
        Some(Output::Row(row)) => row,
        other => panic!("expected a row, got {other:?}"),
    }
}

const KEYED: [(&str, &str); 3] = [
    ("primarykey.mode", "record_key"),
    ("tablestore.orders.primarykey.name", "id"),
    ("tablestore.orders.primarykey.type", "integer"),
];

fn keyed(insert: &str, delete: &str) -> JsonParser {
    let mut settings = KEYED.to_vec();
    settings.push(("insert.mode", insert));
    settings.push(("delete.mode", delete));
    parser(&settings).unwrap()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Put(Vec<&'static str>),
    Update(Vec<&'static str>, Vec<&'static str>),
    Delete,
    Dirty,
}

fn outcome(p: &mut JsonParser, value: Option<&str>) -> Outcome {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    match p.parse_one(&record(Some(r#"{"id":5}"#), value)) {
        Err(err) => {
            assert_eq!(err.code, "dirty-data", "{err:?}");
            Outcome::Dirty
        }
        Ok(mut outputs) => {
            let Some(Output::Row(row)) = outputs.pop() else { panic!("no row") };
            assert_eq!(row.primary_key, vec![Column::new("id", 5i64)]);
            let names = row.columns.iter().map(|c| leak(c.name.clone())).collect();
            match row.kind {
                WriteKind::Put => Outcome::Put(names),
                WriteKind::Update => Outcome::Update(names, row.deleted_columns.into_iter().map(leak).collect()),
                WriteKind::Delete => Outcome::Delete,
            }
        }
    }
}

#[test]
fn delete_syntax_table() {
    use Outcome::*;
    let empty = None;
    let all_null = Some(r#"{"a":null,"b":null}"#);
    let some_null = Some(r#"{"a":1,"b":null}"#);
    let cases = [
        ("put", "none", [Put(vec![]), Put(vec![]), Put(vec!["a"])]),
        ("put", "row", [Delete, Put(vec![]), Put(vec!["a"])]),
        ("put", "column", [Put(vec![]), Put(vec![]), Put(vec!["a"])]),
        ("put", "row_and_column", [Delete, Put(vec![]), Put(vec!["a"])]),
        ("update", "none", [Dirty, Dirty, Update(vec!["a"], vec![])]),
        ("update", "row", [Delete, Dirty, Update(vec!["a"], vec![])]),
        ("update", "column", [Dirty, Update(vec![], vec!["a", "b"]), Update(vec!["a"], vec!["b"])]),
        ("update", "row_and_column", [Delete, Update(vec![], vec!["a", "b"]), Update(vec!["a"], vec!["b"])]),
    ];
    for (insert, delete, expected) in cases {
        let mut p = keyed(insert, delete);
        let got = [outcome(&mut p, empty), outcome(&mut p, all_null), outcome(&mut p, some_null)];
        assert_eq!(got, expected, "insert.mode={insert} delete.mode={delete}");
    }
}

#[test]
fn rows_name_their_table() {
    let mut p = parser(&[("table.name.format", "kafka_<topic>")]).unwrap();
    assert_eq!(row(p.parse_one(&record(None, Some(r#"{"a":1}"#)))).table.as_deref(), Some("kafka_orders"));
    let mut p = parser(&[("topics.assign.tables", "orders:o1,other:o2")]).unwrap();
    let r = row(p.parse_one(&record(None, Some(r#"{"a":1}"#))));
    assert_eq!(r.table.as_deref(), Some("o1"));
    assert_eq!(r.primary_key, vec![Column::new("topic_partition", "orders_2"), Column::new("offset", 7i64)]);
}

#[test]
fn kafka_mode_tombstone_puts_the_key_only() {
    let r = row(parser(&[]).unwrap().parse_one(&record(None, None)));
    assert_eq!((r.kind, r.columns.len()), (WriteKind::Put, 0));
}

#[test]
fn record_value_mode_types_and_moves_key_fields() {
    let mut p = parser(&[
        ("primarykey.mode", "record_value"),
        ("tablestore.orders.primarykey.name", "user,seq"),
        ("tablestore.orders.primarykey.type", "string,integer"),
    ])
    .unwrap();
    let r = row(p.parse_one(&record(None, Some(r#"{"seq":"12","user":7,"v":true}"#))));
    assert_eq!(r.primary_key, vec![Column::new("user", "7"), Column::new("seq", 12i64)]);
    assert_eq!(r.columns, vec![Column::new("v", true)]);
    let err = p.parse_one(&record(None, Some(r#"{"user":"u"}"#))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("missing-field", Some("seq")));
    let err = p.parse_one(&record(None, Some(r#"{"user":"u","seq":"x"}"#))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("type-mismatch", Some("seq")));
    let err = parser(&[("primarykey.mode", "record_value")]).unwrap().parse_one(&record(None, Some("{}"))).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("tablestore.orders.primarykey.name"));
}

#[test]
fn record_key_mode_merges_the_other_key_fields_and_handles_string_keys() {
    let mut p = keyed("put", "none");
    let r = row(p.parse_one(&record(Some(r#"{"id":"5","region":"eu"}"#), Some(r#"{"region":"us","a":1}"#))));
    assert_eq!(r.primary_key, vec![Column::new("id", 5i64)]);
    assert_eq!(
        r.columns,
        vec![Column::new("a", 1i64), Column::new("region", "eu")],
        "key fields override value fields"
    );
    let mut p = parser(&[
        ("primarykey.mode", "record_key"),
        ("key.converter", "org.apache.kafka.connect.storage.StringConverter"),
        ("tablestore.orders.primarykey.name", "k"),
        ("tablestore.orders.primarykey.type", "binary"),
    ])
    .unwrap();
    let r = row(p.parse_one(&record(Some("raw-key"), Some(r#"{"a":1}"#))));
    assert_eq!(r.primary_key, vec![Column::new("k", Value::binary(b"raw-key".to_vec()))]);
}

#[test]
fn auto_increment_key_is_a_placeholder() {
    let mut p = parser(&[
        ("primarykey.mode", "record_value"),
        ("tablestore.orders.primarykey.name", "part,id"),
        ("tablestore.orders.primarykey.type", "string,auto_increment"),
    ])
    .unwrap();
    let r = row(p.parse_one(&record(None, Some(r#"{"part":"p","v":1}"#))));
    assert_eq!(r.primary_key, vec![Column::new("part", "p"), Column::new("id", Value::Null)]);
}

#[test]
fn whitelist_selects_and_types() {
    let mut p = parser(&[
        ("tablestore.orders.columns.whitelist.name", "price,qty,ok,name"),
        ("tablestore.orders.columns.whitelist.type", "double,integer,boolean,string"),
    ])
    .unwrap();
    let r = row(p.parse_one(&record(None, Some(r#"{"qty":"3","price":2,"extra":1,"ok":"true","name":12}"#))));
    assert_eq!(
        r.columns,
        vec![
            Column::new("price", 2.0f64),
            Column::new("qty", 3i64),
            Column::new("ok", true),
            Column::new("name", "12")
        ]
    );
    let err = p.parse_one(&record(None, Some(r#"{"qty":"many"}"#))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("type-mismatch", Some("qty")));
    let err = parser(&[
        ("tablestore.orders.columns.whitelist.name", "a"),
        ("tablestore.orders.columns.whitelist.type", "float"),
    ])
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("tablestore.orders.columns.whitelist.type"));
}

#[test]
fn integers_stay_integers_unless_switched() {
    let r = row(parser(&[]).unwrap().parse_one(&record(None, Some(r#"{"n":3,"f":1.5}"#))));
    assert_eq!(r.columns, vec![Column::new("n", 3i64), Column::new("f", 1.5f64)]);
    let r = row(parser(&[("json.integers", "text")]).unwrap().parse_one(&record(None, Some(r#"{"n":3}"#))));
    assert_eq!(r.columns, vec![Column::new("n", "3")]);
}

#[test]
fn search_mode() {
    let r = row(parser(&[("primarykey.mode", "search")]).unwrap().parse_one(&record(None, Some(r#"{"a":1}"#))));
    let names: Vec<&str> = r.primary_key.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["md5", "topic", "partition", "offset"]);
    // md5("orders_2_7") starts with these five hex digits.
    let Value::Text(md5) = &r.primary_key[0].value else { panic!() };
    assert_eq!(md5.len(), 5);
    assert!(r.columns.contains(&Column::new("timestamp", 1_700_000_000_000i64)));
}

#[test]
fn values_over_the_limits_are_record_errors_naming_the_field() {
    let mut p = keyed("put", "none");
    let big_key = format!(r#"{{"id":5,"name":"{}"}}"#, "k".repeat(10));
    assert!(p.parse_one(&record(Some(&big_key), Some("{}"))).is_ok());
    let mut p = parser(&[
        ("primarykey.mode", "record_value"),
        ("tablestore.orders.primarykey.name", "id"),
        ("tablestore.orders.primarykey.type", "string"),
    ])
    .unwrap();
    let value = format!(r#"{{"id":"{}"}}"#, "k".repeat(1025));
    let err = p.parse_one(&record(None, Some(&value))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("too-large", Some("id")));
    let value = format!(r#"{{"id":"a","blob":"{}"}}"#, "x".repeat(2 * 1024 * 1024 + 1));
    let err = p.parse_one(&record(None, Some(&value))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("too-large", Some("blob")));
}
