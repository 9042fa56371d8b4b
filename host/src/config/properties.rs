//! Java `.properties` parsing with the rules Kafka Connect's files rely on: `#`/`!`
//! comments, `=`, `:` or whitespace separators, backslash line continuations, and the
//! `\t \n \r \f \uXXXX` escapes.

/// A syntax error in a properties file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct PropertiesError {
    /// 1-based line number where the bad entry starts.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses properties text into `(key, value)` pairs in file order (later duplicates win
/// when collected into a map, as in Java).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start_matches([' ', '\t', '\u{c}']);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues.
        let mut logical = trimmed.to_string();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\u{c}'])),
                None => break,
            }
        }
        let (key, value) = split_entry(&logical);
        let key = unescape(key).map_err(|message| PropertiesError { line: index + 1, message })?;
        let value = unescape(value).map_err(|message| PropertiesError { line: index + 1, message })?;
        entries.push((key, value));
    }
    Ok(entries)
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace around the separator
/// is dropped, trailing whitespace of the key too (Kafka Connect users write `key =value`).
fn split_entry(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (key, rest)
}

fn unescape(text: &str) -> Result<String, String> {
    if !text.contains('\\') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("malformed \\uXXXX escape `\\u{hex}`"))?;
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    #[test]
    fn separators_comments_and_spacing() {
        let text = "# comment\n! also\nname=tablestore-sink\ntablestore.access.key.id =xxx\nkey: value\nspaced   value here\nempty=\n";
        assert_eq!(
            pairs(text),
            vec![
                ("name".into(), "tablestore-sink".into()),
                ("tablestore.access.key.id".into(), "xxx".into()),
                ("key".into(), "value".into()),
                ("spaced".into(), "value here".into()),
                ("empty".into(), "".into()),
            ]
        );
    }

    #[test]
    fn continuations_and_escapes() {
        let text = "list=a,\\\n    b,\\\n    c\npath=C:\\\\dir\nuni=\\u0041\\tx\nk\\=ey=v\n";
        assert_eq!(
            pairs(text),
            vec![
                ("list".into(), "a,b,c".into()),
                ("path".into(), "C:\\dir".into()),
                ("uni".into(), "A\tx".into()),
                ("k=ey".into(), "v".into()),
            ]
        );
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        let error = parse("a=1\nb=\\uZZ\n").unwrap_err();
        assert_eq!(error.line, 2);
    }
}
