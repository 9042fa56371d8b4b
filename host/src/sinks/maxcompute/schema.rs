//! Table schemas as the service reports them (upload sessions, table metadata) and the
//! conversion of parser values into a column's wire form. A value that does not fit its
//! column is a per-row error naming the column.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::partition::Zone;
use super::record::{Cell, FieldKind};
use crate::model::Value;

/// A MaxCompute column type, as far as the record stream cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// BIGINT.
    BigInt,
    /// INT.
    Int,
    /// SMALLINT.
    SmallInt,
    /// TINYINT.
    TinyInt,
    /// BOOLEAN.
    Boolean,
    /// DOUBLE.
    Double,
    /// FLOAT.
    Float,
    /// STRING, VARCHAR(n), CHAR(n), JSON: UTF-8 text (raw bytes are accepted, as the
    /// connector's BINARY format writes them).
    String,
    /// BINARY.
    Binary,
    /// DECIMAL[(p,s)]: decimal text.
    Decimal,
    /// DATETIME: epoch milliseconds.
    Datetime,
    /// DATE: epoch days.
    Date,
    /// TIMESTAMP / TIMESTAMP_NTZ: seconds and nanoseconds.
    Timestamp,
    /// Anything else (ARRAY, MAP, STRUCT, INTERVAL...): rows with a value there are rejected.
    Unsupported(String),
}

impl ColumnType {
    /// How this column's cells are laid out in the record stream (`None`: no value is
    /// ever written to it).
    pub fn field_kind(&self) -> Option<FieldKind> {
        Some(match self {
            ColumnType::BigInt
            | ColumnType::Int
            | ColumnType::SmallInt
            | ColumnType::TinyInt
            | ColumnType::Datetime
            | ColumnType::Date => FieldKind::Int,
            ColumnType::Boolean => FieldKind::Bool,
            ColumnType::Double => FieldKind::Double,
            ColumnType::Float => FieldKind::Float,
            ColumnType::String | ColumnType::Binary | ColumnType::Decimal => FieldKind::Bytes,
            ColumnType::Timestamp => FieldKind::Timestamp,
            ColumnType::Unsupported(_) => return None,
        })
    }

    /// Parses a type name (`bigint`, `varchar(10)`, `decimal(18,2)`...), case-insensitive.
    pub fn parse(name: &str) -> Self {
        let lower = name.trim().to_ascii_lowercase();
        let base = lower.split('(').next().unwrap_or("").trim();
        match base {
            "bigint" => ColumnType::BigInt,
            "int" => ColumnType::Int,
            "smallint" => ColumnType::SmallInt,
            "tinyint" => ColumnType::TinyInt,
            "boolean" => ColumnType::Boolean,
            "double" => ColumnType::Double,
            "float" => ColumnType::Float,
            "string" | "varchar" | "char" | "json" => ColumnType::String,
            "binary" => ColumnType::Binary,
            "decimal" => ColumnType::Decimal,
            "datetime" => ColumnType::Datetime,
            "date" => ColumnType::Date,
            "timestamp" | "timestamp_ntz" => ColumnType::Timestamp,
            _ => ColumnType::Unsupported(lower),
        }
    }

    /// The lower-case name used in settings handed to parsers.
    pub fn name(&self) -> &str {
        match self {
            ColumnType::BigInt => "bigint",
            ColumnType::Int => "int",
            ColumnType::SmallInt => "smallint",
            ColumnType::TinyInt => "tinyint",
            ColumnType::Boolean => "boolean",
            ColumnType::Double => "double",
            ColumnType::Float => "float",
            ColumnType::String => "string",
            ColumnType::Binary => "binary",
            ColumnType::Decimal => "decimal",
            ColumnType::Datetime => "datetime",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Unsupported(name) => name,
        }
    }
}

/// A table's data columns (in wire order) and partition keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSchema {
    /// Data columns: field number = index + 1.
    pub columns: Vec<(String, ColumnType)>,
    /// Partition key names.
    pub partition_keys: Vec<String>,
}

impl TableSchema {
    /// Reads the `{"columns":[...],"partitionKeys":[...]}` object used by upload sessions
    /// (`Schema`) and table metadata.
    pub fn from_json(schema: &Json) -> anyhow::Result<Self> {
        let list = |key: &str| -> anyhow::Result<Vec<(String, String)>> {
            let Some(items) = schema.get(key) else { return Ok(Vec::new()) };
            let items = items.as_array().ok_or_else(|| anyhow::anyhow!("schema `{key}` is not a list"))?;
            items
                .iter()
                .map(|c| {
                    let name = c.get("name").and_then(Json::as_str);
                    let kind = c.get("type").and_then(Json::as_str);
                    match (name, kind) {
                        (Some(n), Some(t)) => Ok((n.to_string(), t.to_string())),
                        _ => anyhow::bail!("schema `{key}` entry without name/type: {c}"),
                    }
                })
                .collect()
        };
        let columns: Vec<(String, ColumnType)> =
            list("columns")?.into_iter().map(|(n, t)| (n, ColumnType::parse(&t))).collect();
        if columns.is_empty() {
            anyhow::bail!("the table schema has no columns");
        }
        Ok(Self { columns, partition_keys: list("partitionKeys")?.into_iter().map(|(n, _)| n).collect() })
    }

    /// Index of the column `name` (case-insensitive, as MaxCompute names are).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// `name:type,name:type,...`, the form handed to the built-in parser.
    pub fn to_setting(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|(n, t)| format!("{n}:{}", t.name())).collect();
        columns.join(",")
    }
}

/// Converts `value` for column `name` of type `kind`; `None` for NULL (field left out).
/// DATETIME also takes `yyyy-MM-dd HH:mm:ss` text, read in `zone`.
pub fn convert<'a>(name: &str, kind: &ColumnType, value: &'a Value, zone: &Zone) -> Result<Option<Cell<'a>>, String> {
    let misfit =
        |what: &str| Err(format!("column `{name}` is {} and cannot take {what}", kind.name().to_ascii_uppercase()));
    let int = int_of(value);
    let cell = match (kind, value) {
        (_, Value::Null) => return Ok(None),
        (ColumnType::BigInt, _) => match int {
            Some(v) => Cell::Int(v),
            None => return misfit(describe(value)),
        },
        (ColumnType::Int | ColumnType::SmallInt | ColumnType::TinyInt, _) => {
            let (min, max) = match kind {
                ColumnType::Int => (i32::MIN as i64, i32::MAX as i64),
                ColumnType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
                _ => (i8::MIN as i64, i8::MAX as i64),
            };
            match int {
                Some(v) if (min..=max).contains(&v) => Cell::Int(v),
                Some(v) => return misfit(&format!("{v} (out of range {min}..={max})")),
                None => return misfit(describe(value)),
            }
        }
        (ColumnType::Boolean, Value::Boolean(b)) => Cell::Bool(*b),
        (ColumnType::Double, Value::Float64(v)) => Cell::Double(*v),
        (ColumnType::Double, Value::Float32(v)) => Cell::Double(f64::from(*v)),
        (ColumnType::Double, _) if int.is_some() => Cell::Double(int.unwrap_or_default() as f64),
        (ColumnType::Float, Value::Float32(v)) => Cell::Float(*v),
        (ColumnType::Float, Value::Float64(v)) => Cell::Float(*v as f32),
        (ColumnType::String | ColumnType::Binary, Value::Text(s)) => Cell::Bytes(Cow::Borrowed(s.as_bytes())),
        (ColumnType::String | ColumnType::Binary, Value::Binary(b)) => Cell::Bytes(Cow::Borrowed(b)),
        (ColumnType::String, Value::Boolean(b)) => Cell::Bytes(Cow::Owned(b.to_string().into_bytes())),
        (ColumnType::String | ColumnType::Decimal, _) if int.is_some() => {
            Cell::Bytes(Cow::Owned(int.unwrap_or_default().to_string().into_bytes()))
        }
        (ColumnType::String, Value::Float64(v)) => Cell::Bytes(Cow::Owned(v.to_string().into_bytes())),
        (ColumnType::Decimal, Value::Text(s)) if is_decimal(s) => Cell::Bytes(Cow::Borrowed(s.trim().as_bytes())),
        (ColumnType::Decimal, Value::Float64(v)) if v.is_finite() => {
            Cell::Bytes(Cow::Owned(v.to_string().into_bytes()))
        }
        (ColumnType::Datetime, Value::TimestampUs(us)) => Cell::Int(us.div_euclid(1000)),
        (ColumnType::Datetime, Value::Text(text)) => match zone.local_millis(text) {
            Some(ms) => Cell::Int(ms),
            None => {
                return misfit(&format!("{text:?} (expected yyyy-MM-dd HH:mm:ss, a time that exists in `time_zone`)"))
            }
        },
        (ColumnType::Date, Value::TimestampUs(us)) => Cell::Int(us.div_euclid(86_400_000_000)),
        (ColumnType::Timestamp, Value::TimestampUs(us)) => {
            Cell::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
        }
        (ColumnType::Unsupported(_), _) => {
            return Err(format!(
                "column `{name}` has type {}, which the record stream writer does not support",
                kind.name().to_ascii_uppercase()
            ))
        }
        _ => return misfit(describe(value)),
    };
    Ok(Some(cell))
}

/// Whether a column of type `kind` takes some values of `value`'s type (the schema check
/// at load): `false` means no value of that type ever fits, whatever the record. Whether this
/// value fits (a range, a date format) is checked per record by [`convert`].
pub fn accepts(kind: &ColumnType, value: &Value) -> bool {
    let int = matches!(
        value,
        Value::Int8(_)
            | Value::Int16(_)
            | Value::Int32(_)
            | Value::Int64(_)
            | Value::Uint8(_)
            | Value::Uint16(_)
            | Value::Uint32(_)
            | Value::Uint64(_)
    );
    match (kind, value) {
        (_, Value::Null) => true,
        (ColumnType::BigInt | ColumnType::Int | ColumnType::SmallInt | ColumnType::TinyInt, _) => int,
        (ColumnType::Boolean, Value::Boolean(_)) => true,
        (ColumnType::Double, Value::Float32(_) | Value::Float64(_)) => true,
        (ColumnType::Double, _) => int,
        (ColumnType::Float, Value::Float32(_) | Value::Float64(_)) => true,
        (ColumnType::String, Value::Text(_) | Value::Binary(_) | Value::Boolean(_) | Value::Float64(_)) => true,
        (ColumnType::String | ColumnType::Decimal, _) if int => true,
        (ColumnType::Binary, Value::Text(_) | Value::Binary(_)) => true,
        (ColumnType::Decimal, Value::Text(_) | Value::Float64(_)) => true,
        (ColumnType::Datetime, Value::TimestampUs(_) | Value::Text(_)) => true,
        (ColumnType::Date | ColumnType::Timestamp, Value::TimestampUs(_)) => true,
        _ => false,
    }
}

/// How a value's type is named in messages (`an integer`, `a boolean`, …).
pub fn value_kind(value: &Value) -> &'static str {
    describe(value)
}

fn int_of(value: &Value) -> Option<i64> {
    Some(match value {
        Value::Int8(v) => i64::from(*v),
        Value::Int16(v) => i64::from(*v),
        Value::Int32(v) => i64::from(*v),
        Value::Int64(v) => *v,
        Value::Uint8(v) => i64::from(*v),
        Value::Uint16(v) => i64::from(*v),
        Value::Uint32(v) => i64::from(*v),
        Value::Uint64(v) => i64::try_from(*v).ok()?,
        _ => return None,
    })
}

fn is_decimal(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let mut parts = t.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "a boolean",
        Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => "an integer",
        Value::Uint8(_) | Value::Uint16(_) | Value::Uint32(_) => "an integer",
        Value::Uint64(_) => "an unsigned integer above BIGINT's range",
        Value::Float32(_) | Value::Float64(_) => "a floating-point number",
        Value::Text(_) => "text",
        Value::Binary(_) => "bytes",
        Value::TimestampUs(_) => "a timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_schema() {
        let json: Json = serde_json::from_str(
            r#"{"IsVirtualView":false,"columns":[{"name":"topic","type":"string"},{"name":"partition","type":"bigint"},
                {"name":"d","type":"decimal(10,2)"},{"name":"v","type":"varchar(5)"}],
                "partitionKeys":[{"name":"pt","type":"string"}]}"#,
        )
        .unwrap();
        let schema = TableSchema::from_json(&json).unwrap();
        assert_eq!(schema.columns[1], ("partition".to_string(), ColumnType::BigInt));
        assert_eq!(schema.columns[2].1, ColumnType::Decimal);
        assert_eq!(schema.columns[3].1, ColumnType::String);
        assert_eq!(schema.partition_keys, vec!["pt".to_string()]);
        assert_eq!(schema.index_of("PARTITION"), Some(1));
        assert_eq!(schema.to_setting(), "topic:string,partition:bigint,d:decimal,v:string");
    }

    #[test]
    fn misfits_name_the_column() {
        let utc = Zone::parse("GMT").unwrap();
        let convert = |name: &str, kind: &ColumnType, value: &Value| {
            convert(name, kind, value, &utc).map(|c| c.map(|c| format!("{c:?}")))
        };
        let error = convert("offset", &ColumnType::BigInt, &Value::Text("x".into())).unwrap_err();
        assert!(error.contains("`offset`") && error.contains("BIGINT"), "{error}");
        let error = convert("n", &ColumnType::TinyInt, &Value::Int64(300)).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
        assert_eq!(convert("n", &ColumnType::Double, &Value::Null).unwrap(), None);
        assert_eq!(
            convert("t", &ColumnType::Datetime, &Value::TimestampUs(-1)).unwrap(),
            Some("Int(-1)".into()),
            "floor to ms"
        );
        let shanghai = Zone::parse("Asia/Shanghai").unwrap();
        let text = Value::Text("2020-11-17 15:00:00".into());
        assert_eq!(
            super::convert("t", &ColumnType::Datetime, &text, &shanghai).unwrap(),
            Some(Cell::Int(1_605_596_400_000))
        );
        assert!(convert("d", &ColumnType::Decimal, &Value::Text("1.5e3".into())).is_err());
    }

    #[test]
    fn accepts_is_about_types_and_convert_about_values() {
        let int = Value::Int64(300);
        assert!(accepts(&ColumnType::TinyInt, &int), "an integer may fit a TINYINT");
        assert!(convert("c", &ColumnType::TinyInt, &int, &Zone::parse("UTC").unwrap()).is_err(), "300 does not");
        assert!(!accepts(&ColumnType::Boolean, &int));
        assert!(!accepts(&ColumnType::BigInt, &Value::Text("1".into())));
        assert!(accepts(&ColumnType::Datetime, &Value::Text("2026-01-01 00:00:00".into())));
        assert!(accepts(&ColumnType::Unsupported("array<int>".into()), &Value::Null));
        assert!(!accepts(&ColumnType::Unsupported("array<int>".into()), &Value::Int8(1)));
    }
}
