//! OpenTSDB telnet as TDengine parses it: `[put ]metric timestamp value tag=v[ tag=v...]`,
//! with a 10-digit (seconds) or 13-digit (milliseconds) timestamp and at least one tag.

use sluice_plugin_sdk::PluginError;

use crate::value::check_bare;

/// Checks every line and joins them with `\n` (no `\r`, no blank lines, no `put ` prefix).
pub(crate) fn normalise(text: &str) -> Result<Vec<u8>, PluginError> {
    let mut out = Vec::with_capacity(text.len());
    for (number, line) in crate::lines(text) {
        let line = line.trim();
        let line = line.strip_prefix("put ").map(str::trim_start).unwrap_or(line);
        check(line).map_err(|message| {
            PluginError::new("invalid-telnet", format!("line {number} of the record: {message}: {line}"))
        })?;
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
    }
    if out.is_empty() {
        return Err(crate::empty("telnet"));
    }
    Ok(out)
}

/// Checks one line (without `put `).
pub(crate) fn check(line: &str) -> Result<(), String> {
    let mut parts = line.split_ascii_whitespace();
    let metric = parts.next().ok_or("the metric is missing")?;
    if metric.len() > 192 {
        return Err(format!("metric `{metric}` is longer than 192 bytes"));
    }
    let timestamp = parts.next().ok_or("the timestamp is missing")?;
    check_timestamp(timestamp)?;
    let value = parts.next().ok_or("the value is missing")?;
    let quoted = value.len() >= 2
        && value.ends_with('"')
        && (value.starts_with('"') || value.starts_with("L\"") || value.starts_with("l\""));
    if !quoted {
        check_bare(value).map_err(|e| format!("value: {e}"))?;
    }
    let mut tags = 0;
    for tag in parts {
        match tag.split_once('=') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => tags += 1,
            _ => return Err(format!("tag `{tag}` is not `name=value`")),
        }
    }
    if tags == 0 {
        return Err("there is no tag; TDengine needs at least one".into());
    }
    Ok(())
}

/// 10 digits (seconds), 13 digits (milliseconds) or 0 (now).
pub(crate) fn check_timestamp(timestamp: &str) -> Result<(), String> {
    let digits = timestamp.bytes().all(|b| b.is_ascii_digit());
    if digits && (timestamp.len() == 10 || timestamp.len() == 13 || timestamp == "0") {
        Ok(())
    } else {
        Err(format!("timestamp `{timestamp}` must have 10 digits (seconds) or 13 digits (milliseconds)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnet_lines() {
        assert_eq!(check("meters.current 1648432611249 10.3 location=California.SanFrancisco groupid=2"), Ok(()));
        assert_eq!(check("m 1648432611 3i32 t=a"), Ok(()));
        assert!(check("m 1648432611 3").unwrap_err().contains("no tag"));
        assert!(check("m 164843261100 3 t=a").unwrap_err().contains("10 digits"));
        assert!(check("m 1648432611 x t=a").unwrap_err().contains("value"));
        assert!(check("m 1648432611 1 t").unwrap_err().contains("`t`"));
        let out = normalise("put m 1648432611 1 t=a\r\n\nm 1648432612 2 t=a").unwrap();
        assert_eq!(out, b"m 1648432611 1 t=a\nm 1648432612 2 t=a");
    }
}
