//! The converters against records written by Confluent's OFFICIAL serializers (PyPI
//! `confluent-kafka`, run by `tests/standins/schema_registry/serialize.py`) through the Schema
//! Registry stand-in. Expectations are written from Confluent's documented mappings
//! (AvroData / JsonSchemaData with the converters' defaults) and Kafka's JsonConverter
//! envelope, not from sluice's output.

use serde_json::{json, Value};
use sluice_standins::{confluent_serialize, Service, Standin, Stderr};

use super::*;

fn some(bytes: &[u8]) -> Option<&[u8]> {
    Some(bytes)
}

fn registry(args: &[&str]) -> Standin {
    Standin::start(Service::SchemaRegistry, args, Stderr::Inherit)
}

fn settings(prefix: &str, class: &str, url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out =
        vec![(prefix.to_string(), class.to_string()), (format!("{prefix}.schema.registry.url"), url.to_string())];
    out.extend(extra.iter().map(|(k, v)| (format!("{prefix}.{k}"), v.to_string())));
    out
}

fn converter(prefix: &str, class: &str, url: &str, extra: &[(&str, &str)]) -> RegistryConverter {
    RegistryConverter::from_settings(&settings(prefix, class, url, extra), prefix).unwrap().unwrap()
}

fn envelope(data: &Data) -> String {
    String::from_utf8(data.to_json_converter(true).unwrap().unwrap()).unwrap()
}

fn stats(standin: &Standin) -> Value {
    let url = format!("{}/_standin/stats", standin.base_url());
    serde_json::from_str(&reqwest::blocking::get(url).unwrap().text().unwrap()).unwrap()
}

const ORDER_SCHEMA: &str = r#"{"type":"record","name":"Order","namespace":"shop","doc":"An order","fields":[
  {"name":"id","type":"int"},
  {"name":"total","type":"long"},
  {"name":"customer","type":"string","doc":"who"},
  {"name":"paid","type":"boolean"},
  {"name":"weight","type":"double"},
  {"name":"ratio","type":"float"},
  {"name":"blob","type":"bytes"},
  {"name":"note","type":["null","string"],"default":null},
  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"clock","type":{"type":"int","logicalType":"time-millis"}},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"at_us","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"attrs","type":{"type":"map","values":"long"}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
  {"name":"choice","type":["int","string"]},
  {"name":"small","type":{"type":"int","connect.type":"int16"}},
  {"name":"created","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}},
  {"name":"qty","type":"int","default":1}
]}"#;

/// The Connect schema Confluent's AvroData builds for ORDER_SCHEMA, as JsonConverter writes it
/// (`type`, parts, `optional`, `name`, `version`, `doc`, `parameters`, `default`, then `field`).
/// Record and field docs become record parameters; the nullable union is an optional string
/// (its `null` default dropped); decimal keeps `scale` and the non-default precision; date,
/// time-millis and timestamp-millis are Kafka's logical types, timestamp-micros a plain int64;
/// the enum a string with its symbols as parameters; `["int","string"]` Confluent's Union
/// struct; `connect.type`/`connect.name`/`connect.version` are honoured; a field default is kept
/// and flagged.
fn order_connect_schema(version: Option<i32>) -> String {
    let version = version.map(|v| format!(r#","version":{v}"#)).unwrap_or_default();
    [
        r#"{"type":"struct","fields":["#,
        r#"{"type":"int32","optional":false,"field":"id"},"#,
        r#"{"type":"int64","optional":false,"field":"total"},"#,
        r#"{"type":"string","optional":false,"field":"customer"},"#,
        r#"{"type":"boolean","optional":false,"field":"paid"},"#,
        r#"{"type":"double","optional":false,"field":"weight"},"#,
        r#"{"type":"float","optional":false,"field":"ratio"},"#,
        r#"{"type":"bytes","optional":false,"field":"blob"},"#,
        r#"{"type":"string","optional":true,"field":"note"},"#,
        r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"#,
        r#""parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"amount"},"#,
        r#"{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"},"#,
        r#"{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"clock"},"#,
        r#"{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"at"},"#,
        r#"{"type":"int64","optional":false,"field":"at_us"},"#,
        r#"{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"},"#,
        r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"#,
        r#""optional":false,"field":"attrs"},"#,
        r#"{"type":"string","optional":false,"name":"shop.Status","parameters":{"io.confluent.connect.avro.Enum":"shop.Status","#,
        r#""io.confluent.connect.avro.Enum.NEW":"NEW","io.confluent.connect.avro.Enum.PAID":"PAID"},"field":"status"},"#,
        r#"{"type":"struct","fields":[{"type":"int32","optional":true,"field":"int"},"#,
        r#"{"type":"string","optional":true,"field":"string"}],"optional":false,"name":"io.confluent.connect.avro.Union","#,
        r#""field":"choice"},"#,
        r#"{"type":"int16","optional":false,"field":"small"},"#,
        r#"{"type":"int64","optional":false,"name":"io.debezium.time.Timestamp","version":1,"field":"created"},"#,
        r#"{"type":"int32","optional":false,"parameters":{"io.confluent.connect.avro.field.default":"true"},"default":1,"#,
        r#""field":"qty"}"#,
        r#"],"optional":false,"name":"shop.Order""#,
        &version,
        r#","parameters":{"io.confluent.connect.avro.record.doc":"An order","io.confluent.connect.avro.field.doc.customer":"who"}}"#,
    ]
    .concat()
}

fn order_value(note: Value, choice: Value) -> Value {
    json!({
        "id": 7, "total": 9007199254740993i64, "customer": "Ann", "paid": true, "weight": 1.5, "ratio": 1.1,
        "blob": {"$bytes": "AAEC/w=="}, "note": note, "amount": {"$decimal": "12.34"},
        "day": {"$date": "2024-01-31"}, "clock": {"$time": "12:34:56.789"},
        "at": {"$timestamp": "2024-01-31T12:34:56.789+00:00"}, "at_us": 1706704496789012i64,
        "tags": ["a", "b"], "attrs": {"y": 2, "x": 1}, "status": "PAID", "choice": choice, "small": 12,
        "created": 1706704496789i64, "qty": 3
    })
}

// 2024-01-31 is day 19753 since the epoch; 12:34:56.789 is 45,296,789 ms after midnight;
// 12.34 at scale 2 is the unscaled 1234 = 0x04D2 (base64 "BNI=").
fn order_payload(note: Value, choice: Value) -> String {
    json!({
        "id": 7, "total": 9007199254740993i64, "customer": "Ann", "paid": true, "weight": 1.5, "ratio": 1.1,
        "blob": "AAEC/w==", "note": note, "amount": "BNI=", "day": 19753, "clock": 45296789,
        "at": 1706704496789i64, "at_us": 1706704496789012i64, "tags": ["a", "b"], "attrs": {"x": 1, "y": 2},
        "status": "PAID", "choice": choice, "small": 12, "created": 1706704496789i64, "qty": 3
    })
    .to_string()
}

#[test]
fn avro_records_from_the_official_serializer() {
    let standin = registry(&[]);
    let url = standin.base_url();
    let records = confluent_serialize(&json!({"url": url, "records": [
        {"format": "avro", "topic": "orders", "part": "value", "schema": ORDER_SCHEMA,
         "value": order_value(json!("hi"), json!("s"))},
        {"format": "avro", "topic": "orders", "part": "value", "schema": ORDER_SCHEMA,
         "value": order_value(Value::Null, json!(5))},
        {"format": "avro", "topic": "orders", "part": "key", "schema": "\"string\"", "value": "order-7"},
    ]}));
    assert_eq!(records[0][..5], [0, 0, 0, 0, 1], "magic byte 0 and schema id 1");

    let values = converter("value.converter", AVRO_CONVERTER, &url, &[]);
    let first = values.to_connect_in_topic("orders", some(&records[0])).unwrap();
    // Confluent's converter puts the schema's version under `orders-value` on the top level.
    let expected = format!(
        r#"{{"schema":{},"payload":{}}}"#,
        order_connect_schema(Some(1)),
        order_payload(json!("hi"), json!({"int": null, "string": "s"}))
    );
    assert_eq!(envelope(&first), expected);
    let schema = first.schema.as_ref().unwrap();
    assert_eq!(schema.name.as_deref(), Some("shop.Order"));
    assert_eq!(schema.field("amount").unwrap().schema.decimal_scale(), Ok(2));
    assert_eq!(first.value["amount"], json!("BNI="));

    let second = values.to_connect_in_topic("orders", some(&records[1])).unwrap();
    assert_eq!(second.value["note"], Value::Null);
    assert_eq!(second.value["choice"], json!({"int": 5, "string": null}));

    // Without the topic there is no registry version on the schema.
    let unversioned = values.to_connect(some(&records[0])).unwrap();
    assert_eq!(
        unversioned.schema.as_ref().unwrap().to_json(),
        serde_json::from_str::<Value>(&order_connect_schema(None)).unwrap()
    );

    // A primitive key: a string schema, with the version under `orders-key`.
    let keys = converter("key.converter", AVRO_CONVERTER, &url, &[]);
    let key = keys.to_connect_in_topic("orders", some(&records[2])).unwrap();
    assert_eq!(envelope(&key), r#"{"schema":{"type":"string","optional":false,"version":1},"payload":"order-7"}"#);

    // Null is null; each schema id and (subject, id) is asked for once.
    assert_eq!(values.to_connect(None).unwrap(), Data::null());
    let counts = stats(&standin);
    assert_eq!(counts["GET /schemas/ids/{n}"], json!(2), "{counts}");
    assert_eq!(counts["POST /subjects/{subject}"], json!(2), "{counts}");
}

/// The Person schema's properties come out in the order of the Java `HashMap` Confluent's
/// schema loader keeps them in: [nick, emails, small, score, address, name, active, age]
/// (printed by `java.util.HashMap.keySet()` for these names). Non-required properties are
/// optional fields (sluice reads them as `use.optional.for.nonrequired=true` does).
#[test]
fn json_schema_records_from_the_official_serializer() {
    let standin = registry(&[]);
    let url = standin.base_url();
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "Person", "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": "number"},
            "active": {"type": "boolean"},
            "nick": {"oneOf": [{"type": "null"}, {"type": "string"}]},
            "emails": {"type": "array", "items": {"type": "string"}},
            "small": {"type": "integer", "connect.type": "int16"},
            "address": {"type": "object", "title": "Address", "properties": {"city": {"type": "string"}},
                        "required": ["city"]}
        },
        "required": ["name", "age", "active", "emails", "address"]
    });
    let records = confluent_serialize(&json!({"url": url, "records": [
        {"format": "json", "topic": "people", "part": "value", "schema": schema,
         "value": {"name": "Ann", "age": 41, "active": true, "emails": ["a@x"], "address": {"city": "Oslo"}, "small": 7}},
    ]}));
    let values = converter("value.converter", JSON_SCHEMA_CONVERTER, &url, &[]);
    let data = values.to_connect_in_topic("people", some(&records[0])).unwrap();
    let expected = [
        r#"{"schema":{"type":"struct","fields":["#,
        r#"{"type":"string","optional":true,"field":"nick"},"#,
        r#"{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"emails"},"#,
        r#"{"type":"int16","optional":true,"field":"small"},"#,
        r#"{"type":"double","optional":true,"field":"score"},"#,
        r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"city"}],"optional":false,"name":"Address","field":"address"},"#,
        r#"{"type":"string","optional":false,"field":"name"},"#,
        r#"{"type":"boolean","optional":false,"field":"active"},"#,
        r#"{"type":"int64","optional":false,"field":"age"}"#,
        r#"],"optional":false,"name":"Person","version":1},"#,
        r#""payload":{"nick":null,"emails":["a@x"],"small":7,"score":null,"address":{"city":"Oslo"},"name":"Ann","active":true,"age":41}}"#,
    ]
    .concat();
    assert_eq!(envelope(&data), expected);

    // An Avro converter pointed at JSON Schema data names the right converter.
    let avro = converter("value.converter", AVRO_CONVERTER, &url, &[]);
    let error = format!("{:#}", avro.to_connect(some(&records[0])).unwrap_err());
    assert!(error.contains("a JSON schema") && error.contains(JSON_SCHEMA_CONVERTER), "{error}");
}

#[test]
fn wrong_magic_byte_and_unknown_schema_id() {
    let standin = registry(&[]);
    let url = standin.base_url();
    let values = converter("value.converter", AVRO_CONVERTER, &url, &[]);

    let error = format!("{:#}", values.to_connect(some(br#"{"id":1}"#)).unwrap_err());
    assert!(error.contains("Unknown magic byte!") && error.contains("`value.converter`"), "{error}");
    assert!(error.contains("JsonConverter"), "{error}");

    let unknown = values.to_connect(some(&[0, 0, 0, 0, 99, 2, 0])).unwrap_err();
    assert!(unknown.downcast_ref::<RegistryUnavailable>().is_none());
    let error = format!("{unknown:#}");
    assert!(error.contains("schema id 99") && error.contains(&url) && error.contains("40403"), "{error}");
    assert!(error.contains("`value.converter.schema.registry.url`"), "{error}");
}

#[test]
fn basic_auth_required_and_given() {
    let standin = registry(&["--user", "reader", "--password", "s3cret"]);
    let url = standin.base_url();
    let records = confluent_serialize(&json!({"url": url, "user_info": "reader:s3cret", "records": [
        {"format": "avro", "topic": "t", "part": "value", "schema": "\"long\"", "value": 42},
    ]}));

    let without = converter("value.converter", AVRO_CONVERTER, &url, &[]);
    let error = format!("{:#}", without.to_connect(some(&records[0])).unwrap_err());
    assert!(error.contains("HTTP 401") && error.contains("`value.converter.basic.auth.user.info"), "{error}");

    let with = converter(
        "value.converter",
        AVRO_CONVERTER,
        &url,
        &[("basic.auth.credentials.source", "USER_INFO"), ("basic.auth.user.info", "reader:s3cret")],
    );
    assert_eq!(
        with.to_connect(some(&records[0])).unwrap(),
        Data::new(Some(crate::transforms::Schema::new(crate::transforms::SchemaKind::Int64)), json!(42))
    );

    // Credentials in the URL (the default source), and a dead first URL skipped.
    let in_url = url.replace("http://", "http://reader:s3cret@");
    let failover = converter("value.converter", AVRO_CONVERTER, &format!("http://127.0.0.1:9, {in_url}"), &[]);
    assert_eq!(failover.to_connect(some(&records[0])).unwrap().value, json!(42));
}

#[test]
fn an_unreachable_registry_is_retriable() {
    let values =
        converter("value.converter", AVRO_CONVERTER, "http://127.0.0.1:9", &[("http.connect.timeout.ms", "2000")]);
    let error = values.to_connect(some(&[0, 0, 0, 0, 1, 2])).unwrap_err();
    assert!(error.downcast_ref::<RegistryUnavailable>().is_some(), "{error:#}");
    assert!(format!("{error:#}").contains("127.0.0.1:9"), "{error:#}");
}

#[test]
fn settings_are_checked() {
    let url = "http://localhost:8081";
    let other = settings("value.converter", "org.apache.kafka.connect.json.JsonConverter", url, &[]);
    assert!(RegistryConverter::from_settings(&other, "value.converter").unwrap().is_none());

    let missing = vec![("key.converter".to_string(), AVRO_CONVERTER.to_string())];
    let error = RegistryConverter::from_settings(&missing, "key.converter").unwrap_err().to_string();
    assert!(error.contains("`key.converter.schema.registry.url`"), "{error}");

    let protobuf = settings("value.converter", PROTOBUF_CONVERTER, url, &[("int.for.enums", "true")]);
    let error = RegistryConverter::from_settings(&protobuf, "value.converter").unwrap_err().to_string();
    assert!(error.contains("`value.converter.int.for.enums=true`"), "{error}");

    let enhanced = settings("value.converter", AVRO_CONVERTER, url, &[("enhanced.avro.schema.support", "true")]);
    let error = RegistryConverter::from_settings(&enhanced, "value.converter").unwrap_err().to_string();
    assert!(error.contains("`value.converter.enhanced.avro.schema.support=true`"), "{error}");

    let no_info = settings("value.converter", AVRO_CONVERTER, url, &[("basic.auth.credentials.source", "USER_INFO")]);
    let error = RegistryConverter::from_settings(&no_info, "value.converter").unwrap_err().to_string();
    assert!(error.contains("`value.converter.basic.auth.user.info"), "{error}");
}

#[test]
fn java_hash_map_order_matches_java() {
    // Printed by java.util.HashMap<String, _>.keySet() after putting the names in this order.
    let person = ["name", "age", "score", "active", "nick", "emails", "small", "address"];
    let order: Vec<&str> = json_schema::java_hash_map_order(&person).into_iter().map(|i| person[i]).collect();
    assert_eq!(order, ["nick", "emails", "small", "score", "address", "name", "active", "age"]);
    let order17 = [
        "id", "total", "customer", "paid", "weight", "ratio", "blob", "note", "amount", "day", "clock", "at", "tags",
        "attrs", "status", "choice", "qty",
    ];
    let order: Vec<&str> = json_schema::java_hash_map_order(&order17).into_iter().map(|i| order17[i]).collect();
    assert_eq!(
        order,
        [
            "note", "amount", "weight", "clock", "tags", "attrs", "total", "blob", "at", "qty", "paid", "id", "choice",
            "day", "customer", "ratio", "status"
        ]
    );
}

#[test]
fn converter_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RegistryConverter>();
}

/// Named types and the less common Avro shapes, as Confluent's AvroData maps them: a record
/// type reused by reference (same Connect struct, named with its inherited namespace), as an
/// optional field and inside a general union (member field named after the record's simple
/// name, the union flagged for its `null` default), a named fixed (`connect.fixed.size`), a
/// decimal on a fixed (the fixed's name dropped, shortest two's complement), an array of
/// `io.confluent.connect.avro.MapEntry` records read as a map with int keys (pairs in the
/// payload), and a record default.
#[test]
fn avro_named_types_unions_fixed_and_map_entries() {
    let standin = registry(&[]);
    let url = standin.base_url();
    let schema = r#"{"type":"record","name":"Shipment","namespace":"shop","fields":[
      {"name":"from","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}},
      {"name":"to","type":["null","Address"],"default":null},
      {"name":"pick","type":["null","int","Address"],"default":null},
      {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
      {"name":"price","type":{"type":"fixed","name":"Price","size":8,"logicalType":"decimal","precision":18,"scale":3}},
      {"name":"counts","type":{"type":"array","items":{"type":"record","name":"MapEntry",
        "namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}},
      {"name":"home","type":"Address","default":{"city":"Oslo"}}
    ]}"#;
    let records = confluent_serialize(&json!({"url": url, "records": [
        {"format": "avro", "topic": "shipments", "part": "value", "schema": schema, "value": {
            "from": {"city": "Bergen"}, "to": {"city": "Oslo"}, "pick": {"city": "Rome"},
            "hash": {"$bytes": "AQIDBA=="}, "price": {"$decimal": "-1.500"},
            "counts": [{"key": 1, "value": "a"}, {"key": 2, "value": "b"}], "home": {"city": "Turku"}}},
    ]}));
    let values = converter("value.converter", AVRO_CONVERTER, &url, &[]);
    let data = values.to_connect_in_topic("shipments", some(&records[0])).unwrap();
    let address = r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"city"}],"#;
    let expected = [
        r#"{"schema":{"type":"struct","fields":["#,
        address,
        r#""optional":false,"name":"shop.Address","field":"from"},"#,
        address,
        r#""optional":true,"name":"shop.Address","field":"to"},"#,
        r#"{"type":"struct","fields":[{"type":"int32","optional":true,"field":"int"},"#,
        address,
        r#""optional":true,"name":"shop.Address","field":"Address"}],"optional":true,"#,
        r#""name":"io.confluent.connect.avro.Union","parameters":{"io.confluent.connect.avro.field.default":"true"},"#,
        r#""field":"pick"},"#,
        r#"{"type":"bytes","optional":false,"name":"shop.Hash","parameters":{"connect.fixed.size":"4"},"field":"hash"},"#,
        r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"#,
        r#""parameters":{"scale":"3","connect.decimal.precision":"18","connect.fixed.size":"8"},"field":"price"},"#,
        r#"{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},"#,
        r#""optional":false,"field":"counts"},"#,
        address,
        r#""optional":false,"name":"shop.Address","parameters":{"io.confluent.connect.avro.field.default":"true"},"#,
        r#""default":{"city":"Oslo"},"field":"home"}"#,
        r#"],"optional":false,"name":"shop.Shipment","version":1},"#,
        r#""payload":{"from":{"city":"Bergen"},"to":{"city":"Oslo"},"pick":{"int":null,"Address":{"city":"Rome"}},"#,
        // -1.500 at scale 3 is the unscaled -1500 = 0xFA24.
        r#""hash":"AQIDBA==","price":"+iQ=","counts":[[1,"a"],[2,"b"]],"home":{"city":"Turku"}}}"#,
    ]
    .concat();
    assert_eq!(envelope(&data), expected);
}

#[test]
fn unsupported_shapes_are_refused_with_the_reason() {
    let recursive = r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;
    let error = format!("{:#}", avro::AvroSchema::compile(3, recursive, None).unwrap_err());
    assert!(error.contains("schema id 3") && error.contains("`Node` refers to itself"), "{error}");

    let untyped = r#"{"type":"object","properties":{"any":{}}}"#;
    let error = format!("{:#}", json_schema::JsonSchema::compile(4, untyped, None).unwrap_err());
    assert!(error.contains("JSON Schema id 4") && error.contains("property `any`"), "{error}");

    let person = r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#;
    let compiled = json_schema::JsonSchema::compile(5, person, None).unwrap();
    let error = format!("{:#}", compiled.decode(b"{}").unwrap_err());
    assert!(error.contains("field `name`") && error.contains("required"), "{error}");
}

/// The `.proto` text the registry answers for READING_DESCRIPTOR (the real registry stores
/// Protobuf schemas as text; the Python serializer registers the descriptor itself).
const READING_PROTO: &str = r#"syntax = "proto3";
package iot;
import "google/protobuf/timestamp.proto";
message Reading {
  string device = 1;
  sint32 delta = 2;
  repeated float samples = 3;
  map<string, int32> counts = 4;
  Location where = 5;
  oneof measure {
    double celsius = 6;
    bytes raw = 7;
  }
  optional string note = 8;
  google.protobuf.Timestamp at = 9;
  message Location {
    double lat = 1;
    double lon = 2;
  }
}
"#;

fn reading_job(url: &str) -> Value {
    let schema: Value = serde_json::from_str(READING_DESCRIPTOR).unwrap();
    json!({"url": url, "records": [
        {"format": "protobuf", "topic": "sensors", "message": "iot.Reading", "schema": schema,
         "value": {"device": "d-1", "delta": -3, "samples": [1.5, -2.25], "counts": {"b": 2, "a": 1},
                   "where": {"lat": 52.5, "lon": 13.25}, "celsius": 21.5, "at": "2024-01-31T12:34:56.789Z"}},
        {"format": "protobuf", "topic": "sensors", "message": "iot.Reading.Location", "schema": schema,
         "value": {"lat": 1.0, "lon": -1.0}},
    ]})
}

/// READING_PROTO as a FileDescriptorProto in protobuf's JSON form (what the serializer builds
/// its message class from; the map entry and the proto3 `optional` oneof spelled out).
const READING_DESCRIPTOR: &str = r#"{"name": "iot/reading.proto", "package": "iot", "syntax": "proto3", "dependency": ["google/protobuf/timestamp.proto"], "messageType": [{"name": "Reading", "field": [{"name": "device", "number": 1, "label": "LABEL_OPTIONAL", "type": "TYPE_STRING"}, {"name": "delta", "number": 2, "label": "LABEL_OPTIONAL", "type": "TYPE_SINT32"}, {"name": "samples", "number": 3, "label": "LABEL_REPEATED", "type": "TYPE_FLOAT"}, {"name": "counts", "number": 4, "label": "LABEL_REPEATED", "type": "TYPE_MESSAGE", "typeName": ".iot.Reading.CountsEntry"}, {"name": "where", "number": 5, "label": "LABEL_OPTIONAL", "type": "TYPE_MESSAGE", "typeName": ".iot.Reading.Location"}, {"name": "celsius", "number": 6, "label": "LABEL_OPTIONAL", "type": "TYPE_DOUBLE", "oneofIndex": 0}, {"name": "raw", "number": 7, "label": "LABEL_OPTIONAL", "type": "TYPE_BYTES", "oneofIndex": 0}, {"name": "note", "number": 8, "label": "LABEL_OPTIONAL", "type": "TYPE_STRING", "oneofIndex": 1, "proto3Optional": true}, {"name": "at", "number": 9, "label": "LABEL_OPTIONAL", "type": "TYPE_MESSAGE", "typeName": ".google.protobuf.Timestamp"}], "nestedType": [{"name": "Location", "field": [{"name": "lat", "number": 1, "label": "LABEL_OPTIONAL", "type": "TYPE_DOUBLE"}, {"name": "lon", "number": 2, "label": "LABEL_OPTIONAL", "type": "TYPE_DOUBLE"}]}, {"name": "CountsEntry", "options": {"mapEntry": true}, "field": [{"name": "key", "number": 1, "label": "LABEL_OPTIONAL", "type": "TYPE_STRING"}, {"name": "value", "number": 2, "label": "LABEL_OPTIONAL", "type": "TYPE_INT32"}]}], "oneofDecl": [{"name": "measure"}, {"name": "_note"}]}]}"#;

// ProtobufData (the ProtobufConverter's defaults): the message is a STRUCT named with its
// simple name and the registry version; every field optional with its tag; sint32 is INT32
// with its protobuf type; the real oneof becomes the `measure_0` Union struct placed first;
// the map a MAP named `counts`; Timestamp Kafka's Timestamp; an unset proto3 `optional` null.
// A nested message is reached by its message indexes ([0, 0]).
#[test]
fn protobuf_records_from_the_official_serializer() {
    let standin = registry(&[]);
    let records = confluent_serialize(&reading_job(&standin.base_url()));
    assert_eq!(records[0][5], 0, "the first message is written as the single index 0");
    assert_eq!(&records[1][5..8], &[4, 0, 0], "two indexes, 0 and 0 (zig-zag)");
    let values = converter("value.converter", PROTOBUF_CONVERTER, &standin.base_url(), &[]);
    let data = values.to_connect_in_topic("sensors", some(&records[0])).unwrap();
    let schema = data.schema.as_ref().unwrap();
    assert_eq!((schema.name.as_deref(), schema.version, schema.optional), (Some("Reading"), Some(1), false));
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["measure_0", "device", "delta", "samples", "counts", "where", "note", "at"]);
    let envelope: Value = serde_json::from_str(&envelope(&data)).unwrap();
    let field = |name: &str| {
        envelope["schema"]["fields"].as_array().unwrap().iter().find(|f| f["field"] == name).unwrap().clone()
    };
    assert_eq!(
        field("delta"),
        json!({"type": "int32", "optional": true, "field": "delta",
               "parameters": {"io.confluent.connect.protobuf.Type": "sint32", "io.confluent.connect.protobuf.Tag": "2"}})
    );
    assert_eq!(field("measure_0")["name"], json!("io.confluent.connect.protobuf.Union.measure"));
    assert_eq!(field("measure_0")["fields"][0]["type"], json!("double"));
    assert_eq!((&field("counts")["type"], &field("counts")["name"]), (&json!("map"), &json!("counts")));
    assert_eq!(field("samples")["items"]["type"], json!("float"));
    assert_eq!(field("where")["name"], json!("Location"));
    assert_eq!(field("at")["name"], json!("org.apache.kafka.connect.data.Timestamp"));
    assert_eq!(
        data.value,
        json!({"measure_0": {"celsius": 21.5, "raw": null}, "device": "d-1", "delta": -3, "samples": [1.5, -2.25],
               "counts": {"a": 1, "b": 2}, "where": {"lat": 52.5, "lon": 13.25}, "note": null,
               "at": 1_706_704_496_789i64})
    );
    let nested = values.to_connect_in_topic("sensors", some(&records[1])).unwrap();
    assert_eq!(nested.schema.as_ref().unwrap().name.as_deref(), Some("Location"));
    assert_eq!(nested.value, json!({"lat": 1.0, "lon": -1.0}));

    // The same bytes against the schema's `.proto` text give the same data.
    let text = protobuf::ProtobufSchema::compile(1, READING_PROTO, &[], Some(1)).unwrap();
    let (text_schema, text_value) = text.decode(&records[0][5..]).unwrap();
    assert_eq!(Data::new(Some(text_schema), text_value), data);

    // Bytes that are not Confluent's Protobuf framing are refused with the reason.
    let error = values.to_connect_in_topic("sensors", some(&[0, 0, 0, 0, 1, 0x7f])).unwrap_err();
    assert!(format!("{error:#}").contains("message indexes"), "{error:#}");
}

// A Protobuf schema importing a file of its own: the official serializer registers the import
// as its own subject and the schema with a reference to it; the converter fetches the
// reference and compiles both.
#[test]
fn protobuf_schema_references_are_resolved() {
    let standin = registry(&[]);
    let field = |name: &str, number: u32, kind: &str| json!({"name": name, "number": number, "label": "LABEL_OPTIONAL", "type": kind});
    let money = json!({"name": "shop/money.proto", "package": "shop", "syntax": "proto3",
        "messageType": [{"name": "Money", "field": [field("currency", 1, "TYPE_STRING"), field("units", 2, "TYPE_INT64")]}]});
    let mut total = field("total", 2, "TYPE_MESSAGE");
    total["typeName"] = json!(".shop.Money");
    let order = json!({"name": "shop/order.proto", "package": "shop", "syntax": "proto3",
        "dependency": ["shop/money.proto"],
        "messageType": [{"name": "Order", "field": [field("id", 1, "TYPE_STRING"), total]}]});
    let records = confluent_serialize(&json!({"url": standin.base_url(), "records": [
        {"format": "protobuf", "topic": "orders", "message": "shop.Order", "schema": order, "imports": [money],
         "value": {"id": "o-1", "total": {"currency": "EUR", "units": "12"}}},
    ]}));
    let id = u32::from_be_bytes([records[0][1], records[0][2], records[0][3], records[0][4]]);
    let registered: Value = serde_json::from_str(
        &reqwest::blocking::get(format!("{}/schemas/ids/{id}", standin.base_url())).unwrap().text().unwrap(),
    )
    .unwrap();
    assert_eq!(registered["references"][0]["name"], json!("shop/money.proto"), "{registered}");

    let values = converter("value.converter", PROTOBUF_CONVERTER, &standin.base_url(), &[]);
    let data = values.to_connect_in_topic("orders", some(&records[0])).unwrap();
    assert_eq!(data.value, json!({"id": "o-1", "total": {"currency": "EUR", "units": 12}}));
    let total = data.schema.as_ref().unwrap().field("total").unwrap();
    assert_eq!((total.schema.name.as_deref(), total.schema.kind.kafka_name()), (Some("Money"), "STRUCT"));
}

// ProtobufData's logical types from Google's types: google.type.Date → Date (days since the
// epoch), google.type.TimeOfDay → Time (milliseconds of the day), with the official serializer's
// records (it does not register google/type files as references).
#[test]
fn protobuf_google_date_and_time_of_day_are_connect_logical_types() {
    let standin = registry(&[]);
    let message = |name: &str, number: u32, type_name: &str| json!({"name": name, "number": number, "label": "LABEL_OPTIONAL", "type": "TYPE_MESSAGE", "typeName": type_name});
    let schema = json!({"name": "cal/slot.proto", "package": "cal", "syntax": "proto3",
        "dependency": ["google/type/date.proto", "google/type/timeofday.proto"],
        "messageType": [{"name": "Slot", "field": [
            message("day", 1, ".google.type.Date"), message("start", 2, ".google.type.TimeOfDay")]}]});
    let records = confluent_serialize(&json!({"url": standin.base_url(), "records": [
        {"format": "protobuf", "topic": "slots", "message": "cal.Slot", "schema": schema,
         "value": {"day": {"year": 2024, "month": 2, "day": 29}, "start": {"hours": 13, "minutes": 5, "seconds": 7, "nanos": 250000000}}},
    ]}));
    let values = converter("value.converter", PROTOBUF_CONVERTER, &standin.base_url(), &[]);
    let data = values.to_connect_in_topic("slots", some(&records[0])).unwrap();
    // 2024-02-29 is day 19782; 13:05:07.250 is 47,107,250 ms.
    assert_eq!(data.value, json!({"day": 19782, "start": 47_107_250}));
    let schema = data.schema.as_ref().unwrap();
    assert_eq!(schema.field("day").unwrap().schema.name.as_deref(), Some(crate::transforms::DATE));
    assert_eq!(schema.field("start").unwrap().schema.name.as_deref(), Some(crate::transforms::TIME));
}
