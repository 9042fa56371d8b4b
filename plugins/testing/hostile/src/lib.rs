//! A deliberately misbehaving parser, used by the host's integration tests to prove the
//! sandbox holds. Each record's value (UTF-8, trimmed) says what to do:
//!
//! - `loop`: spin forever;
//! - `trap`: panic, which traps the instance;
//! - `oom`: allocate and touch memory without bound;
//! - `print`: write 1 MiB to stdout and 1 MiB to stderr, then act like a normal record;
//! - `error`: reject the record with code `hostile-error`;
//! - `escape`: try to read a file, list the environment and open a TCP connection, and
//!   echo what happened as one `raw` output (the host must deny all three);
//! - anything else: echo the value as one `raw` output of format `text`.
//!
//! `configure` refuses the settings when `hostile.fail=true`.
#![warn(missing_docs)]

use std::hint::black_box;
use std::io::Write;

use sluice_plugin_sdk::{export_parser, raw, KafkaRecord, Output, Parser, PluginError, Settings};

/// The hostile parser. It has no state.
pub struct HostileParser;

impl Parser for HostileParser {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        if settings.get_bool("hostile.fail", false)? {
            return Err(
                PluginError::new("bad-setting", "hostile.fail=true: refusing to configure").with_field("hostile.fail")
            );
        }
        Ok(HostileParser)
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let value = record.value.as_deref().unwrap_or_default();
        match std::str::from_utf8(value).map(str::trim) {
            Ok("loop") => spin(),
            Ok("trap") => panic!("hostile plugin asked to trap"),
            Ok("oom") => exhaust_memory(),
            Ok("print") => flood_stdio(),
            Ok("error") => return Err(PluginError::new("hostile-error", "asked to fail").with_field("value")),
            Ok("escape") => return Ok(vec![raw("text", try_to_escape()).into()]),
            _ => {}
        }
        Ok(vec![raw("text", value).into()])
    }
}

/// Spin forever in a loop the optimiser cannot remove.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocate 1 MiB chunks filled with ones (so every page is touched) until allocation fails.
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        black_box(&hoard);
    }
}

/// Write 1 MiB of text to stdout and to stderr. Write errors are ignored.
fn flood_stdio() {
    let line = "hostile plugin is printing a lot of text to see whether the host caps it\n";
    let text = line.repeat((1 << 20) / line.len() + 1);
    let _ = std::io::stdout().write_all(text.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Tries the three ways out of the sandbox and reports each outcome on one line:
/// `file=<ok|denied> env=<number of variables> net=<ok|denied>`.
fn try_to_escape() -> String {
    let file = match std::fs::read("/etc/passwd") {
        Ok(_) => "ok",
        Err(_) => "denied",
    };
    let env = std::env::vars_os().count();
    let net = match std::net::TcpStream::connect("127.0.0.1:9") {
        Ok(_) => "ok",
        Err(_) => "denied",
    };
    format!("file={file} env={env} net={net}")
}

export_parser!(HostileParser);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: None,
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    fn parser() -> HostileParser {
        HostileParser::configure(Settings::default()).unwrap()
    }

    #[test]
    fn echoes_ordinary_values() {
        let out = parser().parse_one(&record("hello")).unwrap();
        assert_eq!(out, vec![raw("text", "hello").into()]);
    }

    #[test]
    fn rejects_on_request() {
        let err = parser().parse_one(&record(" error\n")).unwrap_err();
        assert_eq!(err.code, "hostile-error");
        assert_eq!(err.message, "asked to fail");
        assert_eq!(err.field.as_deref(), Some("value"));
    }

    #[test]
    #[should_panic(expected = "hostile plugin asked to trap")]
    fn traps_on_request() {
        let _ = parser().parse_one(&record("trap"));
    }

    #[test]
    fn refuses_configuration_on_request() {
        let settings: Settings = [("hostile.fail", "true")].into_iter().collect();
        let err = HostileParser::configure(settings).err().unwrap();
        assert_eq!(err.code, "bad-setting");
        assert_eq!(err.field.as_deref(), Some("hostile.fail"));
        let settings: Settings = [("hostile.fail", "false")].into_iter().collect();
        assert!(HostileParser::configure(settings).is_ok());
    }
}
