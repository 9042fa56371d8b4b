//! Parsers shipped inside the `sluice` binary. They are ordinary components built from
//! `plugins/` by `host/build.rs`, so they run in the same sandbox as user plugins.

use crate::config::KeySet;

/// Names of the built-in parsers, usable as `parser=<name>`.
pub const BUILTIN_PARSERS: &[&str] = &["json", "tdengine", "maxcompute"];

static JSON: &[u8] = include_bytes!(concat!(env!("SLUICE_GUEST_DIR"), "/sluice_parser_json.wasm"));
static MAXCOMPUTE: &[u8] = include_bytes!(concat!(env!("SLUICE_GUEST_DIR"), "/sluice_parser_maxcompute.wasm"));
static TDENGINE: &[u8] = include_bytes!(concat!(env!("SLUICE_GUEST_DIR"), "/sluice_parser_tdengine.wasm"));

/// Settings of the `tdengine` parser's JSON-to-point mapping (`db.schemaless` is a sink key).
const TDENGINE_PARSER_KEYS: &[&str] = &[
    "tdengine.mapping.measurement",
    "tdengine.mapping.measurement.field",
    "tdengine.mapping.tags",
    "tdengine.mapping.fields",
    "tdengine.mapping.timestamp.field",
    "tdengine.mapping.timestamp.unit",
    "tdengine.mapping.table.field",
];

/// Settings the built-in parsers read (so typos in them are caught at load).
pub fn builtin_keys(name: &str) -> KeySet<'static> {
    match name {
        "json" => KeySet {
            keys: &[
                "primarykey.mode",
                "json.integers",
                "insert.mode",
                "delete.mode",
                "table.name.format",
                "topics.assign.tables",
            ],
            prefixes: &[],
        },
        "tdengine" => KeySet { keys: TDENGINE_PARSER_KEYS, prefixes: &[] },
        "maxcompute" => KeySet { keys: &["mode", "format", "csv_delimiter"], prefixes: &[] },
        _ => KeySet { keys: &[], prefixes: &[] },
    }
}

/// The component bytes of a built-in parser.
pub fn builtin_wasm(name: &str) -> Option<&'static [u8]> {
    match name {
        "json" => Some(JSON),
        "tdengine" => Some(TDENGINE),
        "maxcompute" => Some(MAXCOMPUTE),
        _ => None,
    }
}
