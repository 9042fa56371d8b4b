//! `Cast$Key` / `$Value`: casts fields (`spec=f1:int32,f2:string`) or the whole key or value
//! (`spec=int64`) to int8, int16, int32, int64, float32, float64, boolean or string, with Java's
//! conversions: numbers narrow by truncation and wrap-around, `true` is 1, a number is true
//! when its integer part is not 0, strings parse as Java's `parseXxx`, bytes become base64
//! text, `Decimal` and `Date`/`Time`/`Timestamp` cast from their logical values.

use serde_json::Value;

use super::config::Settings;
use super::record::{ConnectRecord, Data, Part};
use super::schema::{Field, Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};
use super::values::{
    base64_decode, base64_encode, f32_json, f64_json, iso_string_for_millis, java_double_string, java_float_string,
    parse_java_double, parse_java_long, BigDec, MILLIS_PER_DAY,
};
use super::{require_map, struct_map, DataError, Touches, Transform};

/// A type Cast can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
}

const OUTPUTS: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]";
const INPUTS: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]";

impl Target {
    fn parse(name: &str) -> Result<Target, String> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "INT8" => Target::Int8,
            "INT16" => Target::Int16,
            "INT32" => Target::Int32,
            "INT64" => Target::Int64,
            "FLOAT32" => Target::Float32,
            "FLOAT64" => Target::Float64,
            "BOOLEAN" => Target::Boolean,
            "STRING" => Target::String,
            other @ ("BYTES" | "ARRAY" | "MAP" | "STRUCT") => {
                return Err(format!(
                    "Cast transformation does not support casting to {other}; supported types are {OUTPUTS}"
                ))
            }
            _ => return Err(format!("Invalid type found in casting spec: {name}; supported types are {OUTPUTS}")),
        })
    }

    fn kind(self) -> SchemaKind {
        match self {
            Target::Int8 => SchemaKind::Int8,
            Target::Int16 => SchemaKind::Int16,
            Target::Int32 => SchemaKind::Int32,
            Target::Int64 => SchemaKind::Int64,
            Target::Float32 => SchemaKind::Float32,
            Target::Float64 => SchemaKind::Float64,
            Target::Boolean => SchemaKind::Boolean,
            Target::String => SchemaKind::String,
        }
    }
}

/// A value to cast, read through its schema (or its JSON type without one).
enum Source {
    Int(i64),
    Float(f64, bool),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Decimal(BigDec),
    /// A `Date`/`Time`/`Timestamp` being cast to a string: its milliseconds.
    Instant(i64),
}

/// `Cast$Key` / `$Value`.
#[derive(Debug)]
pub(crate) struct Cast {
    part: Part,
    fields: Vec<(String, Target)>,
    whole: Option<Target>,
    replace_null_with_default: bool,
}

impl Cast {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let spec = settings.required("spec", "field:type pairs, or one type for the whole value")?;
        let mappings = super::config::split_list(&spec);
        if mappings.is_empty() {
            return Err(settings.error_for("spec", "Must specify at least one field to cast."));
        }
        let mut fields: Vec<(String, Target)> = Vec::new();
        let mut whole = None;
        for mapping in &mappings {
            // Java's split drops trailing empty parts.
            let mut parts: Vec<&str> = mapping.split(':').collect();
            while parts.len() > 1 && parts.last() == Some(&"") {
                parts.pop();
            }
            match parts.as_slice() {
                [target] => whole = Some(Target::parse(target.trim()).map_err(|e| settings.error_for("spec", e))?),
                [field, target] => {
                    let target = Target::parse(target.trim()).map_err(|e| settings.error_for("spec", e))?;
                    let field = field.trim().to_string();
                    fields.retain(|(f, _)| *f != field);
                    fields.push((field, target));
                }
                _ => {
                    return Err(
                        settings.error_for("spec", format!("invalid cast mapping `{mapping}`: expected field:type"))
                    )
                }
            }
        }
        if whole.is_some() && mappings.len() > 1 {
            return Err(settings.error_for(
                "spec",
                "Cast transformations that specify a type to cast the entire value to may only specify a single cast in \
                 their spec",
            ));
        }
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(Cast { part, fields, whole, replace_null_with_default })
    }

    fn field_target(&self, name: &str) -> Option<Target> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, t)| *t)
    }

    /// The schema of a cast field: the target type, optional like the original, with the
    /// original default cast.
    fn cast_schema(original: &Schema, target: Target, basics: bool) -> Result<Schema, String> {
        // The whole-value form keeps the name, version and parameters (Kafka's copySchemaBasics),
        // except a logical type's, which would no longer describe the value.
        let mut schema = if basics && original.logical().is_none() {
            original.basics_with(target.kind())
        } else {
            Schema::new(target.kind())
        };
        if basics {
            schema.doc = original.doc.clone();
        }
        schema.optional = original.optional;
        if let Some(default) = &original.default {
            schema.default = Some(cast(Some(original), default, target)?);
        }
        Ok(schema)
    }
}

/// Reads `value` (following `schema`, or schemaless) as a cast source.
fn source(schema: Option<&Schema>, value: &Value, target: Target) -> Result<Source, String> {
    let unsupported =
        |kind: &str| format!("Cast transformation does not support casting from {kind}; supported types are {INPUTS}");
    let Some(schema) = schema else {
        return Ok(match value {
            Value::Bool(b) => Source::Bool(*b),
            Value::Number(n) => match n.as_i64().or_else(|| n.as_u64().map(|u| u as i64)) {
                Some(i) => Source::Int(i),
                None => Source::Float(n.as_f64().unwrap_or(f64::NAN), false),
            },
            Value::String(s) => Source::Text(s.clone()),
            Value::Array(_) => return Err(unsupported("ARRAY")),
            Value::Object(_) => return Err(unsupported("MAP")),
            Value::Null => unreachable!("null is handled by the caller"),
        });
    };
    let bad = || format!("value {value} does not match its {} schema", schema.kind.kafka_name());
    match schema.logical() {
        Some(DECIMAL) => {
            let scale = schema.decimal_scale()?;
            return match value {
                Value::String(text) => Ok(Source::Decimal(BigDec::from_bytes(&base64_decode(text)?, scale)?)),
                Value::Number(n) => BigDec::from_json_number(n).map(Source::Decimal).ok_or_else(bad),
                _ => Err(bad()),
            };
        }
        Some(name @ (DATE | TIME | TIMESTAMP)) if target == Target::String => {
            let raw = value.as_i64().ok_or_else(bad)?;
            return Ok(Source::Instant(if name == DATE { raw.saturating_mul(MILLIS_PER_DAY) } else { raw }));
        }
        _ => {}
    }
    Ok(match &schema.kind {
        SchemaKind::Int8 | SchemaKind::Int16 | SchemaKind::Int32 | SchemaKind::Int64 => {
            Source::Int(value.as_i64().ok_or_else(bad)?)
        }
        SchemaKind::Float32 => Source::Float(value.as_f64().ok_or_else(bad)?, true),
        SchemaKind::Float64 => Source::Float(value.as_f64().ok_or_else(bad)?, false),
        SchemaKind::Boolean => Source::Bool(value.as_bool().ok_or_else(bad)?),
        SchemaKind::String => Source::Text(value.as_str().ok_or_else(bad)?.to_string()),
        SchemaKind::Bytes => Source::Bytes(base64_decode(value.as_str().ok_or_else(bad)?)?),
        kind => return Err(unsupported(kind.kafka_name())),
    })
}

/// Casts one value as Kafka's `Cast.castValueToType` does.
fn cast(schema: Option<&Schema>, value: &Value, target: Target) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let source = source(schema, value, target)?;
    let out_of_range = |text: &str| format!("Value ({text}) was out of range for requested data type");
    let unexpected = |what: &str| format!("Unexpected type in Cast transformation: {what}");
    // The integer a number narrows from: Java's `longValue()` (floats saturate, NaN is 0).
    let integral = |source: &Source| -> Option<i64> {
        match source {
            Source::Int(i) => Some(*i),
            Source::Float(f, _) => Some(*f as i64),
            Source::Decimal(d) => Some(d.to_i64_wrapping()),
            Source::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    };
    Ok(match target {
        Target::Int8 | Target::Int16 | Target::Int32 | Target::Int64 => {
            let (min, max) = match target {
                Target::Int8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
                Target::Int16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
                Target::Int32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
                _ => (i64::MIN, i64::MAX),
            };
            let wide = match &source {
                Source::Text(text) => {
                    parse_java_long(text).filter(|v| (min..=max).contains(v)).ok_or_else(|| out_of_range(text))?
                }
                // Java narrows a double through int for byte and short: (byte)(int)d.
                Source::Float(f, _) if target != Target::Int64 => i64::from(*f as i32),
                other => integral(other).ok_or_else(|| unexpected("bytes"))?,
            };
            Value::from(match target {
                Target::Int8 => i64::from(wide as i8),
                Target::Int16 => i64::from(wide as i16),
                Target::Int32 => i64::from(wide as i32),
                _ => wide,
            })
        }
        Target::Float32 | Target::Float64 => {
            let double = match &source {
                Source::Int(i) => *i as f64,
                Source::Float(f, _) => *f,
                Source::Decimal(d) => d.to_f64(),
                Source::Bool(b) => f64::from(u8::from(*b)),
                Source::Text(text) => parse_java_double(text).ok_or_else(|| out_of_range(text))?,
                Source::Bytes(_) | Source::Instant(_) => return Err(unexpected("bytes")),
            };
            if target == Target::Float32 {
                // An int64 rounds to float directly, not through double.
                let single = match &source {
                    Source::Int(i) => *i as f32,
                    _ => double as f32,
                };
                f32_json(single)?
            } else {
                f64_json(double)?
            }
        }
        Target::Boolean => Value::Bool(match &source {
            Source::Text(text) => text.eq_ignore_ascii_case("true"),
            other => integral(other).ok_or_else(|| unexpected("bytes"))? != 0,
        }),
        Target::String => Value::from(match source {
            Source::Int(i) => i.to_string(),
            Source::Float(f, true) => java_float_string(f as f32),
            Source::Float(f, false) => java_double_string(f),
            Source::Bool(b) => b.to_string(),
            Source::Text(text) => text,
            Source::Bytes(bytes) => base64_encode(&bytes),
            Source::Decimal(d) => d.to_java_string(),
            Source::Instant(millis) => iso_string_for_millis(millis),
        }),
    })
}

impl Transform for Cast {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        if record.part(self.part).is_null() {
            return Ok(Some(record));
        }
        let data = std::mem::replace(record.part_mut(self.part), Data::null());
        let updated = match (&data.schema, self.whole) {
            (None, Some(target)) => Data::schemaless(cast(None, &data.value, target).map_err(DataError::new)?),
            (None, None) => {
                let mut map = require_map(data.value, "cast types")?;
                for (field, target) in &self.fields {
                    let cast = cast(None, map.get(field).unwrap_or(&Value::Null), *target)
                        .map_err(|e| DataError::field(field.clone(), e))?;
                    map.insert(field.clone(), cast);
                }
                Data::schemaless(Value::Object(map))
            }
            (Some(schema), Some(target)) => Data::new(
                Some(Cast::cast_schema(schema, target, true).map_err(DataError::new)?),
                cast(Some(schema), &data.value, target).map_err(DataError::new)?,
            ),
            (Some(schema), None) => {
                let fields = schema.fields();
                let mut map = struct_map(schema, data.value, "cast types", self.replace_null_with_default)?;
                let mut new_fields = Vec::with_capacity(fields.len());
                for field in fields {
                    match self.field_target(&field.name) {
                        Some(target) => {
                            let in_field = |e: String| DataError::field(field.name.clone(), e);
                            new_fields.push(Field::new(
                                field.name.clone(),
                                Cast::cast_schema(&field.schema, target, false).map_err(in_field)?,
                            ));
                            let value = map.get(&field.name).unwrap_or(&Value::Null);
                            let cast = cast(Some(&field.schema), value, target).map_err(in_field)?;
                            map.insert(field.name.clone(), cast);
                        }
                        None => new_fields.push(field.clone()),
                    }
                }
                let mut new_schema = schema.basics_with(SchemaKind::Struct(new_fields));
                new_schema.optional = schema.optional;
                if let Some(Value::Object(default)) = &schema.default {
                    let mut cast_default = default.clone();
                    for field in fields {
                        if let (Some(target), Some(v)) = (self.field_target(&field.name), default.get(&field.name)) {
                            let v = cast(Some(&field.schema), v, target)
                                .map_err(|e| DataError::field(field.name.clone(), e))?;
                            cast_default.insert(field.name.clone(), v);
                        }
                    }
                    new_schema.default = Some(Value::Object(cast_default));
                }
                Data::new(Some(new_schema), Value::Object(map))
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transforms::test_support::{apply_one, config_error, record_with_key, record_with_value};

    fn s(kind: SchemaKind) -> Schema {
        Schema::new(kind)
    }

    fn cast_value(settings: &[(&str, &str)], value: Data) -> Result<Data, crate::transforms::TransformError> {
        apply_one("org.apache.kafka.connect.transforms.Cast$Value", settings, record_with_value(value))
            .map(|r| r.unwrap().value)
    }

    // CastTest.castFieldsWithSchema (without the ByteBuffer variant, which JSON cannot tell
    // from a byte array).
    #[test]
    fn cast_fields_with_schema() {
        let spec = "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,boolean:int8,\
                    string:int32,bigdecimal:string,date:string,optional:int32,bytes:string";
        let schema = Schema::structure(vec![
            Field::new("int8", s(SchemaKind::Int8)),
            Field::new("int16", s(SchemaKind::Int16).optional()),
            Field::new("int32", s(SchemaKind::Int32).with_default(json!(2))),
            Field::new("int64", s(SchemaKind::Int64)),
            Field::new("float32", s(SchemaKind::Float32)),
            Field::new("float64", s(SchemaKind::Float64).with_default(json!(-1.125))),
            Field::new("boolean", s(SchemaKind::Boolean)),
            Field::new("string", s(SchemaKind::String)),
            Field::new("bigdecimal", Schema::decimal(0)),
            Field::new("date", Schema::date()),
            Field::new("optional", s(SchemaKind::Float32).optional()),
            Field::new("timestamp", Schema::timestamp()),
            Field::new("bytes", s(SchemaKind::Bytes)),
        ]);
        let bytes = base64_encode(&[0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10]);
        let value = json!({"int8": 8, "int16": 16, "int32": 32, "int64": 64, "float32": 32.0, "float64": -64.0,
            "boolean": true, "string": "42", "bigdecimal": base64_encode(&[42]), "date": 1, "optional": null,
            "timestamp": 0, "bytes": bytes});
        let out = cast_value(&[("spec", spec)], Data::new(Some(schema), value)).unwrap();
        assert_eq!(
            out.value,
            json!({"int8": 8, "int16": 16, "int32": 32, "int64": true, "float32": 32.0, "float64": true,
                "boolean": 1, "string": 42, "bigdecimal": "42", "date": "1970-01-02", "optional": null,
                "timestamp": 0, "bytes": "/ty6mHZUMhA="})
        );
        let out_schema = out.schema.unwrap();
        let field = |name: &str| out_schema.field(name).unwrap().schema.clone();
        assert_eq!(field("int8"), s(SchemaKind::Int16));
        assert_eq!(field("int16"), s(SchemaKind::Int32).optional());
        assert_eq!(field("int32"), s(SchemaKind::Int64).with_default(json!(2)));
        assert_eq!(field("float64"), s(SchemaKind::Boolean).with_default(json!(true)));
        assert_eq!(field("date"), s(SchemaKind::String));
        assert_eq!(field("optional"), s(SchemaKind::Int32).optional());
        assert_eq!(field("timestamp"), Schema::timestamp());
    }

    // CastTest.castFieldsSchemaless.
    #[test]
    fn cast_fields_schemaless() {
        let spec = "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,boolean:int8,string:int32";
        let value = json!({"int8": 8, "int16": 16, "int32": 32, "int64": 64, "float32": 32.0, "float64": -64.0,
            "boolean": true, "string": "42"});
        let out = cast_value(&[("spec", spec)], Data::schemaless(value)).unwrap();
        assert_eq!(
            out,
            Data::schemaless(json!({"int8": 8, "int16": 16, "int32": 32, "int64": true, "float32": 32.0,
                "float64": true, "boolean": 1, "string": 42}))
        );
    }

    // CastTest.castWholeRecordKeyWithSchema / castWholeRecordValueSchemaless* /
    // castWholeRecordDefaultValue.
    #[test]
    fn cast_whole_value() {
        let key = apply_one(
            "org.apache.kafka.connect.transforms.Cast$Key",
            &[("spec", "int8")],
            record_with_key(Data::new(Some(s(SchemaKind::Int32)), json!(42))),
        )
        .unwrap()
        .unwrap()
        .key;
        assert_eq!(key, Data::new(Some(s(SchemaKind::Int8)), json!(42)));
        let cases: &[(&str, Value, Value)] = &[
            ("int16", json!(42), json!(42)),
            ("int8", json!(300), json!(44)),
            ("int32", json!(42.9), json!(42)),
            ("int64", json!(true), json!(1)),
            ("float32", json!(1.1), json!(1.1)),
            ("float64", json!("42.5"), json!(42.5)),
            ("boolean", json!(0.5), json!(false)),
            ("boolean", json!("TRUE"), json!(true)),
            ("string", json!(42), json!("42")),
            ("string", json!(1e10), json!("1.0E10")),
            ("string", json!(true), json!("true")),
        ];
        for (target, input, expected) in cases {
            let out = cast_value(&[("spec", target)], Data::schemaless(input.clone())).unwrap();
            assert_eq!(out, Data::schemaless(expected.clone()), "{input} to {target}");
        }
        let optional = s(SchemaKind::Int32).optional().with_default(json!(7));
        let out = cast_value(&[("spec", "string")], Data::new(Some(optional), json!(8))).unwrap();
        assert_eq!(out, Data::new(Some(s(SchemaKind::String).optional().with_default(json!("7"))), json!("8")));
        // A null value passes as it is.
        assert_eq!(cast_value(&[("spec", "int8")], Data::null()).unwrap(), Data::null());
    }

    // CastTest.castWholeRecordValueSchemalessUnsupportedType / castFieldsWithSchemaFails...:
    // a string out of range, a map, and bytes to a number are refused.
    #[test]
    fn cast_failures() {
        let error = cast_value(&[("spec", "int8")], Data::schemaless(json!("300"))).unwrap_err();
        assert!(error.message.contains("Value (300) was out of range"), "{error}");
        let error = cast_value(&[("spec", "int8")], Data::schemaless(json!({"a": 1}))).unwrap_err();
        assert!(error.message.contains("does not support casting from MAP"), "{error}");
        let schema = Schema::structure(vec![Field::new("b", s(SchemaKind::Bytes))]);
        let error = cast_value(&[("spec", "b:int32")], Data::new(Some(schema), json!({"b": "AA=="}))).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("b"));
    }

    // CastTest.testConfigEmpty / testConfigInvalidTargetType / testConfigMixWholeAndFieldTransformation.
    #[test]
    fn cast_config_errors() {
        let error = |spec: &str| {
            config_error(&[
                ("transforms", "c"),
                ("transforms.c.type", "org.apache.kafka.connect.transforms.Cast$Value"),
                ("transforms.c.spec", spec),
            ])
        };
        assert!(error("").contains("Must specify at least one field to cast"));
        assert!(error("foo:array").contains("does not support casting to ARRAY"));
        assert!(error("foo:faketype").contains("Invalid type found in casting spec: faketype"));
        assert!(error("foo:int8,int32").contains("may only specify a single cast"));
        assert!(error("a:b:c").contains("`transforms.c.spec`"));
    }
}
