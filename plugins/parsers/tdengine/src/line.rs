//! InfluxDB line protocol as TDengine parses it:
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, where `\` escapes
//! `,`, `=`, space, `"` and `\`, string fields are quoted (`"…"`, `L"…"`, `B"…"`, `G"…"`),
//! and the timestamp is a whole number.

use sluice_plugin_sdk::PluginError;

use crate::value::check_bare;

/// Checks every line and joins them with `\n` (no `\r`, no blank lines, no `#` comments).
pub(crate) fn normalise(text: &str) -> Result<Vec<u8>, PluginError> {
    let mut out = Vec::with_capacity(text.len());
    for (number, line) in crate::lines(text) {
        if line.starts_with('#') {
            continue;
        }
        check(line).map_err(|message| {
            PluginError::new("invalid-line", format!("line {number} of the record: {message}: {line}"))
        })?;
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
    }
    if out.is_empty() {
        return Err(crate::empty("line protocol"));
    }
    Ok(out)
}

/// A cursor over one line.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Reads up to (not including) an unescaped byte in `stops`; returns the raw text.
    fn until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b == b'\\' && self.at + 1 < self.bytes.len() {
                self.at += 2;
                continue;
            }
            if stops.contains(&b) {
                break;
            }
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("")
    }
}

/// Checks one line; the error names the part that is wrong.
pub(crate) fn check(line: &str) -> Result<(), String> {
    let mut c = Cursor { bytes: line.as_bytes(), at: 0 };
    let measurement = c.until(b", ");
    if measurement.is_empty() {
        return Err("the measurement is empty".into());
    }
    if measurement.len() > 192 {
        return Err(format!("measurement `{measurement}` is longer than 192 bytes"));
    }
    if c.peek() == Some(b',') {
        loop {
            c.at += 1;
            let key = c.until(b"=, ");
            if key.is_empty() {
                return Err("a tag has no name".into());
            }
            if c.peek() != Some(b'=') {
                return Err(format!("tag `{key}` has no `=value`"));
            }
            c.at += 1;
            let value = c.until(b", ");
            if value.is_empty() {
                return Err(format!("tag `{key}` has an empty value"));
            }
            if c.peek() != Some(b',') {
                break;
            }
        }
    }
    if c.peek() != Some(b' ') {
        return Err(format!("measurement `{measurement}` has no fields"));
    }
    while c.peek() == Some(b' ') {
        c.at += 1;
    }
    let mut fields = 0;
    loop {
        let key = c.until(b"=, ");
        if key.is_empty() {
            return Err(if fields == 0 { "there are no fields".into() } else { "a field has no name".into() });
        }
        if c.peek() != Some(b'=') {
            return Err(format!("field `{key}` has no `=value`"));
        }
        c.at += 1;
        field_value(&mut c, key)?;
        fields += 1;
        match c.peek() {
            Some(b',') => c.at += 1,
            _ => break,
        }
    }
    let timestamp = std::str::from_utf8(&c.bytes[c.at..]).unwrap_or("").trim();
    if !timestamp.is_empty() && !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the timestamp `{timestamp}` is not a whole non-negative number"));
    }
    Ok(())
}

fn field_value(c: &mut Cursor<'_>, key: &str) -> Result<(), String> {
    let rest = &c.bytes[c.at..];
    let quote_at = match rest {
        [b'"', ..] => Some(0),
        [b'L' | b'l' | b'B' | b'b' | b'G' | b'g', b'"', ..] => Some(1),
        _ => None,
    };
    if let Some(quote_at) = quote_at {
        c.at += quote_at + 1;
        loop {
            match c.peek() {
                None => return Err(format!("the string of field `{key}` has no closing quote")),
                Some(b'\\') => c.at += 2,
                Some(b'"') => {
                    c.at += 1;
                    break;
                }
                Some(_) => c.at += 1,
            }
        }
        return match c.peek() {
            None | Some(b',' | b' ') => Ok(()),
            Some(_) => Err(format!("field `{key}` has text after its closing quote")),
        };
    }
    let token = c.until(b", ");
    check_bare(token).map_err(|e| format!("field `{key}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_tdengine_lines() {
        for ok in [
            "meters,location=Beijing.Haidian,groupid=2 current=11.8,voltage=221,phase=0.28 1648432611249000000",
            "st,t1=3i64,t2=4f64,t3=\"t3\" c1=3i64,c3=L\"passit\",c2=false,c4=4f64 1626006833639000000",
            r#"m\ x,t\,k=v\ w f="a \"q\" b",g=B"\x01" 1"#,
            "m f=1",
            "m  f=1u8",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            (",t=1 f=1", "measurement is empty"),
            ("m,t f=1", "tag `t` has no"),
            ("m,t= f=1", "empty value"),
            ("m", "has no fields"),
            ("m f", "field `f` has no"),
            ("m f=\"open", "no closing quote"),
            ("m f=300i8 1", "out of range"),
            ("m f=1 12x", "timestamp"),
            ("m f=1 -5", "timestamp"),
            ("m f=abc", "not a number"),
        ];
        for (line, expected) in cases {
            let error = check(line).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }
}
