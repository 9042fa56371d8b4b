//! The mapper's settings: `mode`, `format`, `csv_delimiter` and the table's columns.

use sluice_plugin_sdk::{PluginError, Settings};

/// Which of key and value are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both key and value.
    Default,
    /// Only the key.
    Key,
    /// Only the value.
    Value,
}

/// How the chosen bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 text.
    Text,
    /// Raw bytes.
    Binary,
    /// One CSV line spread over the table's other columns.
    Csv,
}

/// A table column: name and lower-case type name (`bigint`, `decimal`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    /// Column name.
    pub name: String,
    /// Type name without parameters.
    pub kind: String,
}

/// The parsed settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `mode`.
    pub mode: Mode,
    /// `format`.
    pub format: Format,
    /// `csv_delimiter`.
    pub delimiter: char,
    /// The table's columns other than topic/partition/offset, in table order (CSV targets).
    pub csv_columns: Vec<TableColumn>,
}

const COLUMNS_KEY: &str = "maxcompute.table.columns";

impl Config {
    /// Reads and checks the settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, PluginError> {
        let upper = |key: &str, default: &str| settings.get_or(key, default).trim().to_ascii_uppercase();
        let mode = match upper("mode", "DEFAULT").as_str() {
            "DEFAULT" => Mode::Default,
            "KEY" => Mode::Key,
            "VALUE" => Mode::Value,
            other => return Err(bad("mode", format!("mode must be DEFAULT, KEY or VALUE, not {other:?}"))),
        };
        let format = match upper("format", "TEXT").as_str() {
            "TEXT" => Format::Text,
            "BINARY" => Format::Binary,
            "CSV" => Format::Csv,
            other => return Err(bad("format", format!("format must be TEXT, BINARY or CSV, not {other:?}"))),
        };
        if mode == Mode::Default && format == Format::Csv {
            return Err(bad(
                "format",
                "format=CSV needs mode=KEY or mode=VALUE (DEFAULT writes both key and value)".into(),
            ));
        }
        let delimiter = {
            let raw = settings.get_or("csv_delimiter", ",");
            let mut chars = raw.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' => c,
                _ => {
                    return Err(bad(
                        "csv_delimiter",
                        format!("csv_delimiter must be one character other than '\"', not {raw:?}"),
                    ))
                }
            }
        };
        let mut csv_columns = Vec::new();
        if format == Format::Csv {
            let spec = settings.get(COLUMNS_KEY).ok_or_else(|| {
                bad(COLUMNS_KEY, "format=CSV needs the table's columns, which the MaxCompute sink supplies; use this parser with that sink".into())
            })?;
            for entry in spec.split(',').filter(|e| !e.trim().is_empty()) {
                let (name, kind) = entry
                    .split_once(':')
                    .ok_or_else(|| bad(COLUMNS_KEY, format!("{COLUMNS_KEY} entries are name:type, not {entry:?}")))?;
                let name = name.trim();
                if ["topic", "partition", "offset"].iter().any(|k| k.eq_ignore_ascii_case(name)) {
                    continue;
                }
                csv_columns.push(TableColumn { name: name.to_string(), kind: kind.trim().to_ascii_lowercase() });
            }
        }
        Ok(Config { mode, format, delimiter, csv_columns })
    }
}

fn bad(key: &str, message: String) -> PluginError {
    PluginError::new("bad-setting", message).with_field(key)
}
