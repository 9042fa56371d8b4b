//! The Tablestore connector's `DefaultEventParser` semantics, active when the sink says it
//! is the Tablestore sink (`sluice.sink.mode=tablestore`, added by the host's Tablestore sink): the destination table (`topics.assign.tables`,
//! `table.name.format`), typed primary keys (`tablestore.<table>.primarykey.name/type`),
//! the attribute whitelist (`tablestore.<table>.columns.whitelist.name/type`), put vs update
//! (`insert.mode`) and deletes of rows and columns (`delete.mode`), as in the connector's
//! "Delete syntax" table:
//!
//! | value            | put, any delete.mode            | update, none/row      | update, column/row_and_column |
//! |------------------|---------------------------------|-----------------------|-------------------------------|
//! | null (tombstone) | row/row_and_column: delete row; otherwise put the key only | row: delete row; none: error | row_and_column: delete row; column: error |
//! | all fields null  | put the key only                | error                 | delete those columns          |
//! | some fields null | put the others                  | ignore the nulls      | delete those columns          |

use std::collections::HashMap;

use sluice_plugin_sdk::{Column, PluginError, Settings, Value, WriteKind};

/// The setting the host's sinks add to name their data model.
const SINK_MODE: &str = "sluice.sink.mode";

/// Largest primary key value (string/binary) in bytes.
pub(crate) const MAX_KEY_VALUE: usize = 1024;
/// Largest attribute value (string/binary) in bytes.
pub(crate) const MAX_ATTRIBUTE_VALUE: usize = 2 * 1024 * 1024;

/// Whether the connector writes to Tablestore (the sink said so).
pub(crate) fn is_tablestore(settings: &Settings) -> bool {
    settings.get(SINK_MODE).is_some_and(|mode| mode.trim() == "tablestore")
}

/// A configured column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Integer,
    Double,
    Boolean,
    Binary,
    /// An auto-increment primary key column (integer, filled in by the service).
    AutoIncrement,
}

impl Kind {
    fn parse(text: &str, key: &str, allowed: &[&str]) -> Result<Kind, PluginError> {
        let lower = text.trim().to_ascii_lowercase();
        if !allowed.contains(&lower.as_str()) {
            return Err(bad(key, format!("{key}: `{}` is not one of {}", text.trim(), allowed.join(", "))));
        }
        Ok(match lower.as_str() {
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "double" => Kind::Double,
            "boolean" => Kind::Boolean,
            "binary" => Kind::Binary,
            _ => Kind::AutoIncrement,
        })
    }
}

fn bad(key: &str, message: String) -> PluginError {
    PluginError::new("bad-setting", message).with_field(key)
}

/// Named, typed columns (`*.name` and `*.type` comma lists of equal length).
fn typed_list(settings: &Settings, prefix: &str, allowed: &[&str]) -> Result<Option<Vec<(String, Kind)>>, PluginError> {
    let (name_key, type_key) = (format!("{prefix}.name"), format!("{prefix}.type"));
    let Some(names) = settings.get(&name_key) else {
        return Ok(None);
    };
    let types = settings
        .get(&type_key)
        .ok_or_else(|| bad(&type_key, format!("{name_key} is set, so {type_key} is required")))?;
    let names: Vec<&str> = names.split(',').map(str::trim).collect();
    let types: Vec<&str> = types.split(',').collect();
    if names.len() != types.len() {
        return Err(bad(
            &type_key,
            format!("{name_key} lists {} columns but {type_key} lists {} types", names.len(), types.len()),
        ));
    }
    let mut out: Vec<(String, Kind)> = Vec::with_capacity(names.len());
    for (name, kind) in names.iter().zip(types) {
        if name.is_empty() || out.iter().any(|(n, _)| n == name) {
            return Err(bad(&name_key, format!("{name_key} has an empty or repeated name")));
        }
        out.push((name.to_string(), Kind::parse(kind, &type_key, allowed)?));
    }
    Ok(Some(out))
}

/// Per-table settings.
#[derive(Debug, Default)]
pub(crate) struct TableSettings {
    /// `tablestore.<table>.primarykey.name/type`.
    pub(crate) primary_key: Option<Vec<(String, Kind)>>,
    /// `tablestore.<table>.columns.whitelist.name/type`.
    pub(crate) whitelist: Option<Vec<(String, Kind)>>,
}

/// `delete.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeleteMode {
    None,
    Row,
    Column,
    RowAndColumn,
}

/// The Tablestore mapping settings.
#[derive(Debug)]
pub(crate) struct Mapping {
    table_format: String,
    topic_tables: HashMap<String, String>,
    tables: HashMap<String, TableSettings>,
    /// `insert.mode=update`.
    pub(crate) update: bool,
    pub(crate) delete: DeleteMode,
}

impl Mapping {
    /// Reads the Tablestore keys.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self, PluginError> {
        let mut topic_tables = HashMap::new();
        if let Some(list) = settings.get("topics.assign.tables") {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (topic, table) = entry.split_once(':').ok_or_else(|| {
                    bad("topics.assign.tables", format!("topics.assign.tables: `{entry}` is not topic:table"))
                })?;
                topic_tables.insert(topic.trim().to_string(), table.trim().to_string());
            }
        }
        let mut tables: HashMap<String, TableSettings> = HashMap::new();
        for (key, _) in settings.keys_with_prefix("tablestore.") {
            for suffix in [".primarykey.name", ".columns.whitelist.name"] {
                if let Some(table) = key.strip_prefix("tablestore.").and_then(|k| k.strip_suffix(suffix)) {
                    tables.entry(table.to_string()).or_default();
                }
            }
        }
        for (table, entry) in tables.iter_mut() {
            entry.primary_key = typed_list(
                settings,
                &format!("tablestore.{table}.primarykey"),
                &["string", "integer", "binary", "auto_increment"],
            )?;
            entry.whitelist = typed_list(
                settings,
                &format!("tablestore.{table}.columns.whitelist"),
                &["string", "integer", "double", "boolean", "binary"],
            )?;
        }
        let update = match settings.get("insert.mode").map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("put") => false,
            Some("update") => true,
            Some(other) => return Err(bad("insert.mode", format!("insert.mode must be put or update, not {other:?}"))),
        };
        let delete = match settings.get("delete.mode").map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("none") => DeleteMode::None,
            Some("row") => DeleteMode::Row,
            Some("column") => DeleteMode::Column,
            Some("row_and_column") => DeleteMode::RowAndColumn,
            Some(other) => {
                return Err(bad(
                    "delete.mode",
                    format!("delete.mode must be none, row, column or row_and_column, not {other:?}"),
                ))
            }
        };
        Ok(Mapping {
            table_format: settings
                .get("table.name.format")
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .unwrap_or("<topic>")
                .to_string(),
            topic_tables,
            tables,
            update,
            delete,
        })
    }

    /// The destination table of a topic.
    pub(crate) fn table_for(&self, topic: &str) -> String {
        self.topic_tables.get(topic).cloned().unwrap_or_else(|| self.table_format.replace("<topic>", topic))
    }

    /// Per-table settings (empty when none are configured).
    pub(crate) fn table(&self, table: &str) -> Option<&TableSettings> {
        self.tables.get(table)
    }

    fn deletes_rows(&self) -> bool {
        matches!(self.delete, DeleteMode::Row | DeleteMode::RowAndColumn)
    }

    fn deletes_columns(&self) -> bool {
        matches!(self.delete, DeleteMode::Column | DeleteMode::RowAndColumn)
    }

    /// The write for a tombstone: delete, put of the key only, or an error.
    pub(crate) fn tombstone(&self) -> Result<WriteKind, PluginError> {
        if self.deletes_rows() {
            Ok(WriteKind::Delete)
        } else if !self.update {
            Ok(WriteKind::Put)
        } else {
            Err(PluginError::new(
                "dirty-data",
                "the record value is null (a tombstone) but insert.mode=update and delete.mode does not allow row deletes; \
                 set delete.mode=row or row_and_column to delete the row",
            ))
        }
    }

    /// Splits columns into the write kind, the columns to write and the columns to delete.
    pub(crate) fn columns(&self, columns: Vec<Column>) -> Result<(WriteKind, Vec<Column>, Vec<String>), PluginError> {
        let had_columns = !columns.is_empty();
        let (nulls, values): (Vec<Column>, Vec<Column>) = columns.into_iter().partition(|c| c.value.is_null());
        if !self.update {
            return Ok((WriteKind::Put, values, Vec::new()));
        }
        let deleted: Vec<String> =
            if self.deletes_columns() { nulls.into_iter().map(|c| c.name).collect() } else { Vec::new() };
        if values.is_empty() && deleted.is_empty() {
            let why = if had_columns {
                "every field of the record is null and delete.mode does not allow column deletes (set delete.mode=column or row_and_column)"
            } else {
                "the record has no column to update"
            };
            return Err(PluginError::new("dirty-data", format!("insert.mode=update: {why}")));
        }
        Ok((WriteKind::Update, values, deleted))
    }
}

/// Converts `value` to `kind`; errors name the field.
pub(crate) fn convert(value: Value, kind: Kind, field: &str) -> Result<Value, PluginError> {
    let mismatch = |found: &str| {
        PluginError::new(
            "type-mismatch",
            format!("field {field}: the configured type is {kind:?} but the value is {found}").to_lowercase(),
        )
        .with_field(field)
    };
    let integer = |v: &Value| -> Option<i64> {
        Some(match *v {
            Value::Int8(i) => i.into(),
            Value::Int16(i) => i.into(),
            Value::Int32(i) => i.into(),
            Value::Int64(i) => i,
            Value::Uint8(i) => i.into(),
            Value::Uint16(i) => i.into(),
            Value::Uint32(i) => i.into(),
            Value::Uint64(i) => i64::try_from(i).ok()?,
            Value::TimestampUs(us) => us.div_euclid(1000),
            _ => return None,
        })
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::AutoIncrement => Value::Null,
        Kind::Integer => match &value {
            Value::Text(s) => Value::Int64(s.trim().parse().map_err(|_| mismatch(&format!("the text {s:?}")))?),
            Value::Float64(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::Int64(*f as i64),
            v => Value::Int64(integer(v).ok_or_else(|| mismatch(describe(v)))?),
        },
        Kind::Double => match &value {
            Value::Float32(f) => Value::Float64((*f).into()),
            Value::Float64(f) => Value::Float64(*f),
            Value::Text(s) => Value::Float64(s.trim().parse().map_err(|_| mismatch(&format!("the text {s:?}")))?),
            v => Value::Float64(integer(v).ok_or_else(|| mismatch(describe(v)))? as f64),
        },
        Kind::Boolean => match &value {
            Value::Boolean(b) => Value::Boolean(*b),
            Value::Text(s) if s.eq_ignore_ascii_case("true") => Value::Boolean(true),
            Value::Text(s) if s.eq_ignore_ascii_case("false") => Value::Boolean(false),
            v => return Err(mismatch(describe(v))),
        },
        Kind::String => match value {
            Value::Text(s) => Value::Text(s),
            Value::Binary(b) => Value::Text(String::from_utf8(b).map_err(|_| mismatch("binary that is not UTF-8"))?),
            Value::Boolean(b) => Value::Text(b.to_string()),
            Value::Float32(f) => Value::Text(f.to_string()),
            Value::Float64(f) => Value::Text(f.to_string()),
            v => Value::Text(integer(&v).ok_or_else(|| mismatch(describe(&v)))?.to_string()),
        },
        Kind::Binary => match value {
            Value::Binary(b) => Value::Binary(b),
            Value::Text(s) => Value::Binary(s.into_bytes()),
            v => return Err(mismatch(describe(&v))),
        },
    })
}

/// What kind of value `value` is, for error messages ("a boolean", "text", ...).
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Boolean(_) => "a boolean",
        Value::Float32(_) | Value::Float64(_) => "a floating-point number",
        Value::Text(_) => "text",
        Value::Binary(_) => "binary",
        Value::Null => "null",
        _ => "an integer",
    }
}

/// Checks the service's size limits: 1 KB per primary key value, 2 MB per attribute value.
pub(crate) fn check_sizes(primary_key: &[Column], columns: &[Column]) -> Result<(), PluginError> {
    let size = |v: &Value| match v {
        Value::Text(s) => s.len(),
        Value::Binary(b) => b.len(),
        _ => 0,
    };
    for (list, limit, what) in
        [(primary_key, MAX_KEY_VALUE, "primary key value"), (columns, MAX_ATTRIBUTE_VALUE, "attribute value")]
    {
        if let Some(column) = list.iter().find(|c| size(&c.value) > limit) {
            return Err(PluginError::new(
                "too-large",
                format!(
                    "field {}: a Tablestore {what} may have at most {limit} bytes, this one has {}",
                    column.name,
                    size(&column.value)
                ),
            )
            .with_field(&column.name));
        }
    }
    Ok(())
}
