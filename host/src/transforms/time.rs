//! Time transforms: `TimestampConverter$Key` / `$Value` (between Unix time, formatted strings
//! and Connect's `Date`, `Time` and `Timestamp`) and `TimestampRouter` (the topic from the
//! topic and the record timestamp).

use serde_json::{Map, Value};

use super::config::Settings;
use super::datefmt::JavaDateFormat;
use super::record::{ConnectRecord, Data, Part};
use super::schema::{Field, Schema, SchemaKind, DATE, TIME, TIMESTAMP};
use super::values::MILLIS_PER_DAY;
use super::{describe, require_map, struct_map, DataError, Touches, Transform};

/// A timestamp representation (`target.type`, or the input's, read from its schema or JSON type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

/// `unix.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// `TimestampConverter$Key` / `$Value`: converts `field` (or the whole key or value when
/// `field` is empty) to `target.type`.
///
/// Without a schema, a JSON integer is Unix time and a string is parsed with `format`; the
/// `Date`, `Time` and `Timestamp` targets give milliseconds (Kafka gives a `java.util.Date`,
/// which JSON cannot hold): midnight of the day, milliseconds since midnight, and the instant.
#[derive(Debug)]
pub(crate) struct TimestampConverter {
    part: Part,
    field: String,
    target: Repr,
    format: Option<JavaDateFormat>,
    precision: Precision,
    replace_null_with_default: bool,
}

impl TimestampConverter {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let field = settings.string_or("field", "");
        let target =
            match settings.choice("target.type", &["string", "unix", "Date", "Time", "Timestamp"], None)?.as_str() {
                "string" => Repr::String,
                "unix" => Repr::Unix,
                "Date" => Repr::Date,
                "Time" => Repr::Time,
                _ => Repr::Timestamp,
            };
        let pattern = settings.string_or("format", "");
        let precision = match settings
            .choice(
                "unix.precision",
                &["seconds", "milliseconds", "microseconds", "nanoseconds"],
                Some("milliseconds"),
            )?
            .as_str()
        {
            "seconds" => Precision::Seconds,
            "microseconds" => Precision::Microseconds,
            "nanoseconds" => Precision::Nanoseconds,
            _ => Precision::Milliseconds,
        };
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        if target == Repr::String && pattern.is_empty() {
            return Err(settings.error_for(
                "format",
                "TimestampConverter requires format option to be specified when using string timestamps \
                 (a SimpleDateFormat pattern such as yyyy-MM-dd'T'HH:mm:ss.SSSZ)",
            ));
        }
        let format = if pattern.is_empty() {
            None
        } else {
            Some(JavaDateFormat::compile(&pattern).map_err(|e| {
                settings.error_for("format", format!("not a SimpleDateFormat-compatible pattern sluice supports: {e}"))
            })?)
        };
        Ok(TimestampConverter { part, field, target, format, precision, replace_null_with_default })
    }

    /// The target's schema, optional like the input's.
    fn target_schema(&self, optional: bool) -> Schema {
        let schema = match self.target {
            Repr::String => Schema::new(SchemaKind::String),
            Repr::Unix => Schema::new(SchemaKind::Int64),
            Repr::Date => Schema::date(),
            Repr::Time => Schema::time(),
            Repr::Timestamp => Schema::timestamp(),
        };
        if optional {
            schema.optional()
        } else {
            schema
        }
    }

    /// The representation a schema describes.
    fn repr_of(schema: &Schema) -> Result<Repr, String> {
        Ok(match (schema.name.as_deref(), &schema.kind) {
            (Some(TIMESTAMP), _) => Repr::Timestamp,
            (Some(DATE), _) => Repr::Date,
            (Some(TIME), _) => Repr::Time,
            (_, SchemaKind::String) => Repr::String,
            (_, SchemaKind::Int64) => Repr::Unix,
            (_, kind) => {
                return Err(format!(
                "schema {} does not correspond to a known timestamp type format (string, int64, Date, Time, Timestamp)",
                kind.kafka_name()
            ))
            }
        })
    }

    /// Converts one timestamp; `repr` is the input's representation, `None` to infer it from
    /// the JSON type (schemaless).
    fn convert(&self, value: &Value, repr: Option<Repr>) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let repr = match repr {
            Some(repr) => repr,
            None => match value {
                Value::String(_) => Repr::String,
                Value::Number(n) if n.is_i64() || n.is_u64() => Repr::Unix,
                other => return Err(format!("TimestampConverter does not support {} as a timestamp", describe(other))),
            },
        };
        let millis = match repr {
            Repr::String => {
                let text = value.as_str().ok_or("expected a string timestamp")?;
                let format = self.format.as_ref().ok_or(
                    "a string timestamp needs `format` (a SimpleDateFormat pattern) to be parsed; set it on this transform",
                )?;
                format.parse(text).map_err(|e| format!("Could not parse timestamp: {e}"))?
            }
            Repr::Unix => {
                let unix = value.as_i64().ok_or("expected a Unix timestamp (an integer)")?;
                match self.precision {
                    Precision::Seconds => unix.saturating_mul(1000),
                    Precision::Milliseconds => unix,
                    Precision::Microseconds => unix / 1000,
                    Precision::Nanoseconds => unix / 1_000_000,
                }
            }
            Repr::Date => value.as_i64().ok_or("expected a Date (int32 days)")?.saturating_mul(MILLIS_PER_DAY),
            Repr::Time | Repr::Timestamp => value.as_i64().ok_or("expected an integer of milliseconds")?,
        };
        Ok(match self.target {
            Repr::String => Value::from(self.format.as_ref().expect("checked at build").format(millis)),
            Repr::Unix => Value::from(match self.precision {
                Precision::Seconds => millis / 1000,
                Precision::Milliseconds => millis,
                Precision::Microseconds => millis.saturating_mul(1000),
                Precision::Nanoseconds => millis.saturating_mul(1_000_000),
            }),
            Repr::Timestamp => Value::from(millis),
            // Midnight of the UTC day in days, and milliseconds since midnight UTC.
            Repr::Date => Value::from(millis.div_euclid(MILLIS_PER_DAY)),
            Repr::Time => Value::from(millis.rem_euclid(MILLIS_PER_DAY)),
        })
    }

    /// The schemaless form of a converted value: `Date` as milliseconds of midnight.
    fn schemaless(&self, value: Value) -> Value {
        match (self.target, &value) {
            (Repr::Date, Value::Number(n)) => Value::from(n.as_i64().unwrap_or(0).saturating_mul(MILLIS_PER_DAY)),
            _ => value,
        }
    }
}

impl Transform for TimestampConverter {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let data = std::mem::replace(record.part_mut(self.part), Data::null());
        let in_field = |e: String| DataError::field(self.field.clone(), e);
        let updated = match &data.schema {
            None if data.value.is_null() || self.field.is_empty() => {
                Data::schemaless(self.schemaless(self.convert(&data.value, None).map_err(DataError::new)?))
            }
            None => {
                let mut map = require_map(data.value, "converting timestamp formats")?;
                let converted = self.convert(map.get(&self.field).unwrap_or(&Value::Null), None).map_err(in_field)?;
                map.insert(self.field.clone(), self.schemaless(converted));
                Data::schemaless(Value::Object(map))
            }
            Some(schema) if self.field.is_empty() => {
                let repr = Self::repr_of(schema).map_err(DataError::new)?;
                Data::new(
                    Some(self.target_schema(schema.optional)),
                    self.convert(&data.value, Some(repr)).map_err(DataError::new)?,
                )
            }
            Some(schema) => {
                let SchemaKind::Struct(fields) = &schema.kind else {
                    return Err(DataError::new(format!(
                        "Only Struct objects supported for [converting timestamp formats], found: {} (the schema is {})",
                        describe(&data.value),
                        schema.kind.kafka_name()
                    )));
                };
                let mut new_fields = Vec::with_capacity(fields.len());
                for field in fields {
                    if field.name == self.field {
                        new_fields.push(Field::new(field.name.clone(), self.target_schema(field.schema.optional)));
                    } else {
                        new_fields.push(field.clone());
                    }
                }
                // A field the schema lacks is left alone, as Kafka does.
                let convert_struct = |mut object: Map<String, Value>| -> Result<Value, DataError> {
                    if let Some(field) = fields.iter().find(|f| f.name == self.field) {
                        let repr = Self::repr_of(&field.schema).map_err(in_field)?;
                        let value = object.get(&field.name).unwrap_or(&Value::Null);
                        let converted = self.convert(value, Some(repr)).map_err(in_field)?;
                        object.insert(field.name.clone(), converted);
                    }
                    Ok(Value::Object(object))
                };
                let mut new_schema = schema.basics_with(SchemaKind::Struct(new_fields));
                new_schema.optional = schema.optional;
                if let Some(Value::Object(default)) = &schema.default {
                    new_schema.default = Some(convert_struct(default.clone())?);
                }
                let value = if data.value.is_null() {
                    Value::Null
                } else {
                    let purpose = "converting timestamp formats";
                    convert_struct(struct_map(schema, data.value, purpose, self.replace_null_with_default)?)?
                };
                Data::new(Some(new_schema), value)
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// `TimestampRouter`: sets the topic to `topic.format` (default `${topic}-${timestamp}`) with
/// the record timestamp formatted by `timestamp.format` (default `yyyyMMdd`, UTC). A record
/// without a timestamp is an error.
#[derive(Debug)]
pub(crate) struct TimestampRouter {
    topic_format: String,
    timestamp_format: JavaDateFormat,
}

impl TimestampRouter {
    pub(crate) fn build(settings: &mut Settings) -> anyhow::Result<Self> {
        let topic_format = settings.string_or("topic.format", "${topic}-${timestamp}");
        let pattern = settings.string_or("timestamp.format", "yyyyMMdd");
        let timestamp_format = JavaDateFormat::compile(&pattern).map_err(|e| {
            settings.error_for(
                "timestamp.format",
                format!("not a SimpleDateFormat-compatible pattern sluice supports: {e}"),
            )
        })?;
        Ok(TimestampRouter { topic_format, timestamp_format })
    }
}

impl Transform for TimestampRouter {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let millis = record.timestamp_ms.ok_or_else(|| {
            DataError::new(format!(
                "Timestamp missing on record (topic {}, partition {}, offset {}); TimestampRouter needs the record \
                 timestamp",
                record.topic, record.partition, record.offset
            ))
        })?;
        let stamp = self.timestamp_format.format(millis);
        record.topic = self.topic_format.replace("${topic}", &record.topic).replace("${timestamp}", &stamp);
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::none()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transforms::test_support::{apply_one, config_error, record, record_with_key, record_with_value};

    const CONVERTER: &str = "org.apache.kafka.connect.transforms.TimestampConverter$Value";
    // TimestampConverterTest's fixtures: DATE_PLUS_TIME is 1970-01-02T00:00:01.234Z.
    const DATE_PLUS_TIME_UNIX: i64 = 86_401_234;
    const DATE_PLUS_TIME_STRING: &str = "1970 01 02 00 00 01 234 UTC";
    const STRING_DATE_FMT: &str = "yyyy MM dd HH mm ss SSS z";

    fn convert(settings: &[(&str, &str)], value: Data) -> Result<Data, crate::transforms::TransformError> {
        apply_one(CONVERTER, settings, record_with_value(value)).map(|r| r.unwrap().value)
    }

    // TimestampConverterTest.testSchemalessTimestampToString / ToUnix / UnixToTimestamp /
    // StringToTimestamp / testSchemalessStringToUnix_Micros / _Nanos / _Seconds.
    #[test]
    fn schemaless_whole_value() {
        let unix = Data::schemaless(json!(DATE_PLUS_TIME_UNIX));
        let out = convert(&[("target.type", "string"), ("format", STRING_DATE_FMT)], unix.clone()).unwrap();
        assert_eq!(out, Data::schemaless(json!(DATE_PLUS_TIME_STRING)));
        let out = convert(&[("target.type", "unix")], unix.clone()).unwrap();
        assert_eq!(out, Data::schemaless(json!(DATE_PLUS_TIME_UNIX)));
        let string = Data::schemaless(json!(DATE_PLUS_TIME_STRING));
        let out = convert(&[("target.type", "Timestamp"), ("format", STRING_DATE_FMT)], string.clone()).unwrap();
        assert_eq!(out, Data::schemaless(json!(DATE_PLUS_TIME_UNIX)));
        for (precision, expected) in
            [("microseconds", 86_401_234_000i64), ("nanoseconds", 86_401_234_000_000), ("seconds", 86_401)]
        {
            let settings = [("target.type", "unix"), ("unix.precision", precision), ("format", STRING_DATE_FMT)];
            assert_eq!(convert(&settings, string.clone()).unwrap(), Data::schemaless(json!(expected)), "{precision}");
        }
        // Without a schema Date and Time give milliseconds: of midnight, and since midnight.
        assert_eq!(convert(&[("target.type", "Date")], unix.clone()).unwrap(), Data::schemaless(json!(86_400_000)));
        assert_eq!(convert(&[("target.type", "Time")], unix).unwrap(), Data::schemaless(json!(1234)));
        // testSchemalessNullValueToString: null stays null.
        assert_eq!(
            convert(&[("target.type", "string"), ("format", STRING_DATE_FMT)], Data::null()).unwrap(),
            Data::null()
        );
    }

    // TimestampConverterTest.testWithSchemaTimestampToDate / ToTime / ToUnix / ToString and
    // testWithSchemaStringToTimestamp.
    #[test]
    fn with_schema_whole_value() {
        let timestamp = Data::new(Some(Schema::timestamp()), json!(DATE_PLUS_TIME_UNIX));
        assert_eq!(
            convert(&[("target.type", "Date")], timestamp.clone()).unwrap(),
            Data::new(Some(Schema::date()), json!(1))
        );
        assert_eq!(
            convert(&[("target.type", "Time")], timestamp.clone()).unwrap(),
            Data::new(Some(Schema::time()), json!(1234))
        );
        assert_eq!(
            convert(&[("target.type", "unix")], timestamp.clone()).unwrap(),
            Data::new(Some(Schema::new(SchemaKind::Int64)), json!(DATE_PLUS_TIME_UNIX))
        );
        assert_eq!(
            convert(&[("target.type", "string"), ("format", STRING_DATE_FMT)], timestamp).unwrap(),
            Data::new(Some(Schema::new(SchemaKind::String)), json!(DATE_PLUS_TIME_STRING))
        );
        let string = Data::new(Some(Schema::new(SchemaKind::String)), json!(DATE_PLUS_TIME_STRING));
        assert_eq!(
            convert(&[("target.type", "Timestamp"), ("format", STRING_DATE_FMT)], string).unwrap(),
            Data::new(Some(Schema::timestamp()), json!(DATE_PLUS_TIME_UNIX))
        );
        // A Date (int32 days) to a Timestamp: testWithSchemaDateToTimestamp.
        let date = Data::new(Some(Schema::date()), json!(1));
        assert_eq!(
            convert(&[("target.type", "Timestamp")], date).unwrap(),
            Data::new(Some(Schema::timestamp()), json!(86_400_000))
        );
        // testWithSchemaNullValueToTimestamp: an optional null stays null with the new schema.
        let null = Data::new(Some(Schema::new(SchemaKind::Int64).optional()), Value::Null);
        assert_eq!(
            convert(&[("target.type", "Timestamp")], null).unwrap(),
            Data::new(Some(Schema::timestamp().optional()), Value::Null)
        );
    }

    // TimestampConverterTest.testWithSchemaFieldConversion_Micros / _Nanos / _Seconds and
    // testSchemalessFieldConversion.
    #[test]
    fn field_conversion() {
        let schema = Schema::structure(vec![
            Field::new("ts", Schema::new(SchemaKind::Int64)),
            Field::new("other", Schema::new(SchemaKind::String)),
        ]);
        let expected_schema = Schema::structure(vec![
            Field::new("ts", Schema::timestamp()),
            Field::new("other", Schema::new(SchemaKind::String)),
        ]);
        for (precision, unix, millis) in [
            ("microseconds", DATE_PLUS_TIME_UNIX * 1000 + 123, DATE_PLUS_TIME_UNIX),
            ("nanoseconds", (DATE_PLUS_TIME_UNIX * 1000 + 123) * 1000 + 456, DATE_PLUS_TIME_UNIX),
            ("seconds", DATE_PLUS_TIME_UNIX / 1000, 86_401_000),
        ] {
            let settings = [("target.type", "Timestamp"), ("field", "ts"), ("unix.precision", precision)];
            let out = convert(&settings, Data::new(Some(schema.clone()), json!({"ts": unix, "other": "x"}))).unwrap();
            assert_eq!(
                out,
                Data::new(Some(expected_schema.clone()), json!({"ts": millis, "other": "x"})),
                "{precision}"
            );
        }
        let settings = [("target.type", "Date"), ("field", "ts")];
        let out = convert(&settings, Data::schemaless(json!({"ts": DATE_PLUS_TIME_UNIX, "other": "x"}))).unwrap();
        assert_eq!(out, Data::schemaless(json!({"ts": 86_400_000, "other": "x"})));
    }

    // TimestampConverterTest.testWithSchemaNullFieldWithDefaultConversion.
    #[test]
    fn null_field_with_default() {
        let schema = Schema::structure(vec![Field::new("ts", Schema::timestamp().optional().with_default(json!(0)))]);
        let data = Data::new(Some(schema), json!({"ts": null}));
        let settings = [("target.type", "unix"), ("field", "ts")];
        assert_eq!(convert(&settings, data.clone()).unwrap().value, json!({"ts": 0}));
        let settings = [("target.type", "unix"), ("field", "ts"), ("replace.null.with.default", "false")];
        assert_eq!(convert(&settings, data).unwrap().value, json!({"ts": null}));
    }

    // TimestampConverterTest.testKey.
    #[test]
    fn key_variant() {
        let out = apply_one(
            "org.apache.kafka.connect.transforms.TimestampConverter$Key",
            &[("target.type", "Timestamp")],
            record_with_key(Data::new(Some(Schema::timestamp()), json!(DATE_PLUS_TIME_UNIX))),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.key, Data::new(Some(Schema::timestamp()), json!(DATE_PLUS_TIME_UNIX)));
    }

    #[test]
    fn unparsable_string_names_the_field() {
        let settings = [("target.type", "unix"), ("field", "ts"), ("format", "yyyy-MM-dd")];
        let error = convert(&settings, Data::schemaless(json!({"ts": "yesterday"}))).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("ts"));
        assert!(error.message.contains("does not match pattern (yyyy-MM-dd)"), "{error}");
    }

    // TimestampConverterTest.testConfigNoTargetType / InvalidTargetType / InvalidUnixPrecision /
    // MissingFormat / InvalidFormat.
    #[test]
    fn config_errors() {
        let error = |settings: &[(&str, &str)]| {
            let mut pairs = vec![("transforms", "ts"), ("transforms.ts.type", CONVERTER)];
            let keyed: Vec<(String, &str)> = settings.iter().map(|(k, v)| (format!("transforms.ts.{k}"), *v)).collect();
            pairs.extend(keyed.iter().map(|(k, v)| (k.as_str(), *v)));
            config_error(&pairs)
        };
        assert!(error(&[]).contains("`transforms.ts.target.type`"));
        assert!(error(&[("target.type", "invalid")]).contains("must be one of string, unix, Date, Time, Timestamp"));
        assert!(
            error(&[("target.type", "unix"), ("unix.precision", "invalid")]).contains("`transforms.ts.unix.precision`")
        );
        assert!(error(&[("target.type", "string")]).contains("`transforms.ts.format`"));
        assert!(error(&[("target.type", "string"), ("format", "bad-format")]).contains("`transforms.ts.format`"));
    }

    // TimestampRouterTest.defaultConfiguration: "test" at 1483425001864 becomes "test-20170103".
    #[test]
    fn timestamp_router() {
        let mut kafkas = record();
        kafkas.timestamp_ms = Some(1_483_425_001_864);
        let out = apply_one("org.apache.kafka.connect.transforms.TimestampRouter", &[], kafkas).unwrap().unwrap();
        assert_eq!(out.topic, "test-20170103");
        let out = apply_one(
            "org.apache.kafka.connect.transforms.TimestampRouter",
            &[("topic.format", "${timestamp}_${topic}_${topic}"), ("timestamp.format", "yyyy.MM")],
            record(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.topic, "2017.01_test_test");
        let mut no_time = record();
        no_time.timestamp_ms = None;
        let error = apply_one("org.apache.kafka.connect.transforms.TimestampRouter", &[], no_time).unwrap_err();
        assert!(error.message.contains("Timestamp missing on record"), "{error}");
    }
}
