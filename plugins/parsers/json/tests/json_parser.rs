//! End-to-end tests of the JSON parser through its public API, natively.

use sluice_parser_json::JsonParser;
use sluice_plugin_sdk::{Column, KafkaRecord, Output, Parser, PluginError, Row, Settings, Value, WriteKind};

const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTES: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

const STRUCT_ENVELOPE: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"product"},{"type":"int64","optional":false,"field":"quantity"},{"type":"double","optional":false,"field":"price"}],"optional":false,"name":"record"},"payload":{"id":1,"product":"foo","quantity":100,"price":50}}"#;
const MAP_ENVELOPE: &str = r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"id":2,"quantity":200}}"#;
const MISSING_ENVELOPE: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

fn parser(settings: &[(&str, &str)]) -> JsonParser {
    configure(settings).expect("settings are valid")
}

fn configure(settings: &[(&str, &str)]) -> Result<JsonParser, PluginError> {
    JsonParser::configure(settings.iter().copied().collect::<Settings>())
}

fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> KafkaRecord {
    KafkaRecord {
        topic: "orders".into(),
        partition: 3,
        offset: 42,
        timestamp_ms: Some(1_700_000_000_000),
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: Vec::new(),
    }
}

fn parse(parser: &mut JsonParser, value: &str) -> Result<Vec<Output>, PluginError> {
    parser.parse_one(&record(None, Some(value.as_bytes())))
}

/// The single row `value` turns into.
fn row_of(parser: &mut JsonParser, value: &str) -> Row {
    let outputs = parse(parser, value).expect("record parses");
    single_row(outputs)
}

fn single_row(mut outputs: Vec<Output>) -> Row {
    assert_eq!(outputs.len(), 1, "one output per record");
    match outputs.pop().unwrap() {
        Output::Row(row) => row,
        other => panic!("expected a row, got {other:?}"),
    }
}

fn columns(pairs: Vec<(&str, Value)>) -> Vec<Column> {
    pairs.into_iter().map(|(name, value)| Column::new(name, value)).collect()
}

fn kafka_key() -> Vec<Column> {
    columns(vec![("topic_partition", Value::text("orders_3")), ("offset", Value::Int64(42))])
}

#[test]
fn plain_object_keeps_document_order() {
    let row = row_of(&mut parser(&[]), r#"{"z":1,"a":"x","m":true,"n":null,"f":1.5,"neg":-7}"#);
    assert_eq!(row.table, None);
    assert_eq!(row.kind, WriteKind::Put);
    assert_eq!(row.primary_key, kafka_key());
    assert!(row.deleted_columns.is_empty());
    assert_eq!(
        row.columns,
        columns(vec![
            ("z", Value::Int64(1)),
            ("a", Value::text("x")),
            ("m", Value::Boolean(true)),
            ("n", Value::Null),
            ("f", Value::Float64(1.5)),
            ("neg", Value::Int64(-7)),
        ])
    );
}

#[test]
fn nested_values_become_compact_json_text() {
    let row = row_of(&mut parser(&[]), r#"{"obj": {"b": 1, "a": [1, 2]}, "arr": [{"x": null}, "s"], "empty": {}}"#);
    assert_eq!(
        row.columns,
        columns(vec![
            ("obj", Value::text(r#"{"b":1,"a":[1,2]}"#)),
            ("arr", Value::text(r#"[{"x":null},"s"]"#)),
            ("empty", Value::text("{}")),
        ])
    );
}

#[test]
fn integers_above_i64_max() {
    let row = row_of(
        &mut parser(&[]),
        r#"{"max":9223372036854775807,"above":9223372036854775808,"u64max":18446744073709551615,"huge":18446744073709551616,"min":-9223372036854775808}"#,
    );
    assert_eq!(
        row.columns,
        columns(vec![
            ("max", Value::Int64(i64::MAX)),
            ("above", Value::Uint64(9_223_372_036_854_775_808)),
            ("u64max", Value::Uint64(u64::MAX)),
            ("huge", Value::Float64(18_446_744_073_709_551_616.0)),
            ("min", Value::Int64(i64::MIN)),
        ])
    );
}

#[test]
fn integers_as_text() {
    let row = row_of(&mut parser(&[("json.integers", "text")]), r#"{"i":12,"u":18446744073709551615,"f":0.5}"#);
    assert_eq!(
        row.columns,
        columns(
            vec![("i", Value::text("12")), ("u", Value::text("18446744073709551615")), ("f", Value::Float64(0.5)),]
        )
    );
    let err = configure(&[("json.integers", "string")]).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("json.integers"));
}

#[test]
fn top_level_non_objects_become_one_value_column() {
    let mut p = parser(&[]);
    assert_eq!(row_of(&mut p, "42").columns, columns(vec![("value", Value::Int64(42))]));
    assert_eq!(row_of(&mut p, r#""hi""#).columns, columns(vec![("value", Value::text("hi"))]));
    assert_eq!(row_of(&mut p, "[1, 2]").columns, columns(vec![("value", Value::text("[1,2]"))]));
}

fn struct_envelope_columns() -> Vec<Column> {
    columns(vec![
        ("id", Value::Int32(1)),
        ("product", Value::text("foo")),
        ("quantity", Value::Int64(100)),
        ("price", Value::Float64(50.0)),
    ])
}

#[test]
fn envelope_with_struct_schema() {
    for settings in [
        &[][..],
        &[("value.converter.schemas.enable", "true")][..],
        &[("value.converter", JSON)][..],
        &[("value.converter", JSON), ("value.converter.schemas.enable", "TRUE")][..],
    ] {
        let row = row_of(&mut parser(settings), STRUCT_ENVELOPE);
        assert_eq!(row.columns, struct_envelope_columns(), "settings {settings:?}");
        assert_eq!(row.primary_key, kafka_key());
    }
}

#[test]
fn envelope_with_map_schema() {
    let row = row_of(&mut parser(&[]), MAP_ENVELOPE);
    assert_eq!(row.columns, columns(vec![("id", Value::Int32(2)), ("quantity", Value::Int32(200))]));
}

#[test]
fn envelope_follows_schema_order_and_fills_optionals_and_defaults() {
    let value = r#"{"schema":{"type":"struct","fields":[
        {"type":"string","optional":false,"field":"a"},
        {"type":"int16","optional":true,"field":"opt"},
        {"type":"boolean","optional":false,"default":true,"field":"def"},
        {"type":"array","items":{"type":"int32"},"optional":false,"field":"list"},
        {"type":"struct","fields":[{"type":"int32","field":"x"}],"optional":false,"field":"inner"},
        {"type":"bytes","optional":false,"field":"raw"}
    ]},"payload":{"raw":"AAE=","inner":{"x":1},"list":[3,2],"def":null,"a":"A","extra":1}}"#;
    let row = row_of(&mut parser(&[]), value);
    assert_eq!(
        row.columns,
        columns(vec![
            ("a", Value::text("A")),
            ("opt", Value::Null),
            ("def", Value::Boolean(true)),
            ("list", Value::text("[3,2]")),
            ("inner", Value::text(r#"{"x":1}"#)),
            ("raw", Value::binary(vec![0, 1])),
        ])
    );
}

#[test]
fn envelope_logical_types() {
    // 1234 with scale 2 is "BNI="; 2023-11-14T22:13:20.123Z is 1700000000123 ms.
    let value = r#"{"schema":{"type":"struct","fields":[
        {"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"amount"},
        {"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"at"},
        {"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"},
        {"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"time"},
        {"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3"},"field":"none"}
    ]},"payload":{"amount":"BNI=","at":1700000000123,"day":19675,"time":3723000,"none":null}}"#;
    let row = row_of(&mut parser(&[]), value);
    assert_eq!(
        row.columns,
        columns(vec![
            ("amount", Value::text("12.34")),
            ("at", Value::TimestampUs(1_700_000_000_123_000)),
            ("day", Value::TimestampUs(19_675 * 86_400_000_000)),
            ("time", Value::Int32(3_723_000)),
            ("none", Value::Null),
        ])
    );
}

#[test]
fn envelope_errors_name_the_field() {
    let mut p = parser(&[]);
    let missing =
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}]},"payload":{}}"#;
    let err = parse(&mut p, missing).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("missing-field", Some("id")));

    let mismatch = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}]},"payload":{"id":"one"}}"#;
    let err = parse(&mut p, mismatch).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("type-mismatch", Some("id")));

    let range = r#"{"schema":{"type":"struct","fields":[{"type":"int8","optional":false,"field":"small"}]},"payload":{"small":200}}"#;
    let err = parse(&mut p, range).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("out-of-range", Some("small")));
    assert!(err.message.contains("small"), "{}", err.message);
}

#[test]
fn missing_envelope_with_schemas_enabled() {
    for settings in [&[("value.converter.schemas.enable", "true")][..], &[("value.converter", JSON)][..]] {
        let mut p = parser(settings);
        for value in [r#"{"id":1}"#, r#"{"schema":{},"payload":{},"extra":1}"#, "5", "null"] {
            let err = parse(&mut p, value).unwrap_err();
            assert_eq!(err.code, "missing-envelope");
            assert_eq!(err.message, MISSING_ENVELOPE);
            assert_eq!(err.field, None);
        }
    }
}

#[test]
fn schemas_disabled_reads_envelope_shaped_objects_as_plain_json() {
    let mut p = parser(&[("value.converter", JSON), ("value.converter.schemas.enable", "false")]);
    let row = row_of(&mut p, MAP_ENVELOPE);
    assert_eq!(row.columns.len(), 2);
    assert_eq!(row.columns[0].name, "schema");
    assert_eq!(row.columns[1], Column::new("payload", Value::text(r#"{"id":2,"quantity":200}"#)));
}

#[test]
fn envelope_with_null_schema_reads_the_payload_as_plain_json() {
    let row = row_of(&mut parser(&[]), r#"{"schema":null,"payload":{"a":1}}"#);
    assert_eq!(row.columns, columns(vec![("a", Value::Int64(1))]));
}

#[test]
fn primary_key_none() {
    let row = row_of(&mut parser(&[("primarykey.mode", "none")]), r#"{"a":1}"#);
    assert!(row.primary_key.is_empty());
    assert_eq!(row.columns, columns(vec![("a", Value::Int64(1))]));
}

#[test]
fn primary_key_from_record_key() {
    let mut p = parser(&[("primarykey.mode", "record_key")]);
    let value = Some(&br#"{"v":1}"#[..]);

    let object = p.parse_one(&record(Some(br#"{"user":"u1","region":"eu"}"#), value)).unwrap();
    assert_eq!(
        single_row(object).primary_key,
        columns(vec![("user", Value::text("u1")), ("region", Value::text("eu"))])
    );

    let scalar = p.parse_one(&record(Some(b"7"), value)).unwrap();
    assert_eq!(single_row(scalar).primary_key, columns(vec![("key", Value::Int64(7))]));

    let enveloped = br#"{"schema":{"type":"struct","fields":[{"type":"int64","field":"id"}]},"payload":{"id":9}}"#;
    let row = single_row(p.parse_one(&record(Some(enveloped), value)).unwrap());
    assert_eq!(row.primary_key, columns(vec![("id", Value::Int64(9))]));
    assert_eq!(row.columns, columns(vec![("v", Value::Int64(1))]));

    for key in [None, Some(&b"null"[..])] {
        let err = p.parse_one(&record(key, value)).unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("missing-key", Some("key")));
    }

    let err = p.parse_one(&record(Some(b"{oops"), value)).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("invalid-json", Some("key")));
}

#[test]
fn primary_key_from_string_key() {
    let mut p = parser(&[("primarykey.mode", "record_key"), ("key.converter", STRING)]);
    let row = single_row(p.parse_one(&record(Some(b"{not json"), Some(b"{}"))).unwrap());
    assert_eq!(row.primary_key, columns(vec![("key", Value::text("{not json"))]));
    assert!(row.columns.is_empty());
}

#[test]
fn configure_rejects_bad_settings_naming_the_key() {
    let err = configure(&[("primarykey.mode", "record_header")]).unwrap_err();
    assert_eq!(err.code, "bad-setting");
    assert_eq!(err.field.as_deref(), Some("primarykey.mode"));
    assert!(err.message.contains("kafka, record_key, none"), "{}", err.message);

    let err = configure(&[("value.converter", "io.confluent.connect.avro.AvroConverter")]).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("value.converter"));

    let err = configure(&[("key.converter.schemas.enable", "yes")]).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("key.converter.schemas.enable"));
}

#[test]
fn tombstones_produce_no_output() {
    let mut p = parser(&[]);
    assert_eq!(p.parse_one(&record(Some(b"k"), None)), Ok(vec![]));
    assert_eq!(parse(&mut p, "null"), Ok(vec![]));
    assert_eq!(parse(&mut p, r#"{"schema":{"type":"struct","fields":[],"optional":true},"payload":null}"#), Ok(vec![]));
    // Tombstones are skipped before the key is looked at.
    let mut keyed = parser(&[("primarykey.mode", "record_key")]);
    assert_eq!(keyed.parse_one(&record(None, None)), Ok(vec![]));
}

#[test]
fn invalid_json() {
    let err = parse(&mut parser(&[]), "{\"a\":\n  tru}").unwrap_err();
    assert_eq!(err.code, "invalid-json");
    assert_eq!(err.field, None);
    assert!(err.message.contains("line 2 column"), "{}", err.message);
}

#[test]
fn string_converter() {
    let mut p = parser(&[("value.converter", STRING)]);
    let row = row_of(&mut p, r#"{"héllo": 1}"#);
    assert_eq!(row.columns, columns(vec![("value", Value::text(r#"{"héllo": 1}"#))]));
    assert_eq!(row.primary_key, kafka_key());

    let err = p.parse_one(&record(None, Some(&[0xff, 0xfe]))).unwrap_err();
    assert_eq!((err.code.as_str(), err.field.as_deref()), ("invalid-utf8", Some("value")));
}

#[test]
fn byte_array_converter() {
    let mut p = parser(&[("value.converter", BYTES)]);
    let row = single_row(p.parse_one(&record(None, Some(&[0, 159, 255]))).unwrap());
    assert_eq!(row.columns, columns(vec![("value", Value::binary(vec![0, 159, 255]))]));
}

/// Kafka Connect's number and boolean converters read what Kafka's serializers write: fixed
/// size, big-endian (`IntegerSerializer` writes 42 as 00 00 00 2a, `DoubleSerializer` 1.5 as
/// the IEEE 754 bits 3f f8 00 ...).
#[test]
fn primitive_converters() {
    let cases: [(&str, Vec<u8>, Value); 6] = [
        ("ShortConverter", vec![0xff, 0xfe], Value::Int16(-2)),
        ("IntegerConverter", vec![0, 0, 0, 0x2a], Value::Int32(42)),
        ("LongConverter", vec![0, 0, 0, 1, 0, 0, 0, 0], Value::Int64(1 << 32)),
        ("FloatConverter", vec![0x3f, 0xc0, 0, 0], Value::Float32(1.5)),
        ("DoubleConverter", vec![0x3f, 0xf8, 0, 0, 0, 0, 0, 0], Value::Float64(1.5)),
        ("BooleanConverter", vec![1], Value::Boolean(true)),
    ];
    for (class, bytes, value) in cases {
        let class = format!("org.apache.kafka.connect.converters.{class}");
        let mut p = parser(&[("value.converter", &class)]);
        let row = single_row(p.parse_one(&record(None, Some(&bytes))).unwrap());
        assert_eq!(row.columns, columns(vec![("value", value)]), "{class}");
        let err = p.parse_one(&record(None, Some(&[1, 2, 3]))).unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("invalid-size", Some("value")), "{class}");
        assert!(err.message.contains("Size of data received by"), "{}", err.message);
    }
}

#[test]
fn batches_keep_one_result_per_record_in_order() {
    let mut p = parser(&[]);
    let batch = [
        record(None, Some(br#"{"a":1}"#)),
        record(None, Some(b"{")),
        record(None, None),
        record(None, Some(STRUCT_ENVELOPE.as_bytes())),
    ];
    let results = p.parse_batch(&batch);
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code, "invalid-json");
    assert_eq!(results[2], Ok(vec![]));
    assert_eq!(single_row(results[3].clone().unwrap()).columns, struct_envelope_columns());
}

/// The fast path of `parse_compact` (schemaless objects written straight into the compact
/// encoding) gives exactly what encoding `parse_one`'s results gives, for every kind of
/// document it takes or gives up on, under every setting that decides whether it applies.
#[test]
fn compact_parsing_equals_the_general_path() {
    let documents: &[&str] = &[
        r#"{"order_id":100001,"product":"bagel","quantity":2,"price":1.25,"paid":true,"customer":{"id":"c-1","tier":"gold"},"ts":1700000000000}"#,
        r#"{"a":null,"b":1}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"esc\"aped":"line\nbreak \u00e9 \ud83d\ude00","a":"b"}"#,
        r#"{"big":18446744073709551615,"neg":-9223372036854775808,"huge":1e400,"f":1e15,"list":[1, {"x": [true,null]}]}"#,
        r#"{"nested":{"k":1,"k":2,"z":{}}}"#,
        r#"{"n":{"a\"b":"\u0001\/é","c":[],"d":{},"e":[[1.5e300,-0.0,3.0,1E2]],"f":{"g":{"h":[null,false]}}}}"#,
        r#"{"n":[18446744073709551615,-9223372036854775808,12345678901234567890123]}"#,
        r#"{"n":{"x":1,"y":{"x":2},"z":[{"x":3},{"x":4}]}}"#,
        r#"{"schema":null,"payload":{"a":1}}"#,
        r#"{"schema":1,"x":2}"#,
        r#"{"payload":1}"#,
        "{}",
        "  { \"spaced\" : [ 1 , 2 ] }  ",
        "null",
        "7",
        r#""text""#,
        "[1,2]",
        r#"{"a":1"#,
        r#"{"a":1} trailing"#,
        "not json",
    ];
    let wide = format!("{{{}}}", (0..40).map(|i| format!("\"f{i}\":{i}")).collect::<Vec<_>>().join(","));
    let nested_wide =
        format!("{{\"n\":{{{}}}}}", (0..33).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
    let at_limit = format!("{{{}}}", (0..32).map(|i| format!("\"f{i}\":\"v{i}\"")).collect::<Vec<_>>().join(","));
    let settings: &[&[(&str, &str)]] = &[
        &[],
        &[("value.converter.schemas.enable", "false")],
        &[("value.converter", JSON), ("value.converter.schemas.enable", "false"), ("json.integers", "text")],
        &[("primarykey.mode", "none")],
        &[("sluice.sink.mode", "tablestore"), ("table.name.format", "t_${topic}")],
        &[("sluice.sink.mode", "tablestore"), ("insert.mode", "update"), ("delete.mode", "column")],
        &[("sluice.sink.mode", "tablestore"), ("primarykey.mode", "search")],
        &[
            ("sluice.sink.mode", "tablestore"),
            ("tablestore.orders.columns.whitelist.name", "a"),
            ("tablestore.orders.columns.whitelist.type", "integer"),
        ],
        &[("value.converter", JSON)],
    ];
    for settings in settings {
        let mut fast = parser(settings);
        let mut general = parser(settings);
        let mut batch: Vec<KafkaRecord> = documents.iter().map(|d| record(None, Some(d.as_bytes()))).collect();
        batch.push(record(None, Some(wide.as_bytes())));
        batch.push(record(None, Some(nested_wide.as_bytes())));
        batch.push(record(None, Some(at_limit.as_bytes())));
        batch.push(record(None, None));
        let mut compact = Vec::new();
        fast.parse_compact(&batch, &mut compact);
        let expected: Vec<_> = batch.iter().map(|r| general.parse_one(r)).collect();
        assert_eq!(compact, sluice_plugin_sdk::compact::encode(&expected), "settings {settings:?}");
    }
}
