//! Bodies of the fuzz targets in `fuzz/`, as plain functions: cargo-fuzz runs them on
//! instrumented inputs, and the ordinary test suite runs them over a seed corpus and a fixed
//! number of pseudo-random inputs (the CI smoke). Each checks a property, not only that
//! nothing panics.

use crate::config::properties;

/// Escapes a key or value so that [`properties::parse`] reads it back unchanged.
pub fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '=' | ':' | ' ' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            _ => out.push(c),
        }
    }
    out
}

/// Fuzz target `properties`: any text either parses or names a line; whatever parses, written
/// back with [`escape_property`], parses to the same pairs.
pub fn properties(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match properties::parse(text) {
        Ok(pairs) => {
            let rendered: String =
                pairs.iter().map(|(k, v)| format!("{}={}\n", escape_property(k), escape_property(v))).collect();
            let again = properties::parse(&rendered).expect("escaped pairs parse");
            assert_eq!(again, pairs, "round trip of {rendered:?}");
        }
        Err(error) => assert!(error.line >= 1 && error.line <= text.lines().count().max(1), "{error}"),
    }
}

/// Fuzz target `config_text`: a worker or connector file (JSON or properties) either reads or
/// fails with an error; whatever reads, written out as a properties file, reads back to the
/// same entries.
pub fn config_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(map) = crate::config::parse_text("fuzz.properties", text) else { return };
    let rendered: String =
        map.entries().iter().map(|(k, v)| format!("{}={}\n", escape_property(k), escape_property(v))).collect();
    // A rendered file that starts with `{` would be read as JSON: lead with a comment.
    let rendered = format!("# rendered\n{rendered}");
    let again = crate::config::parse_text("rendered.properties", &rendered).expect("rendered entries read back");
    assert_eq!(again.entries(), map.entries(), "round trip of {rendered:?}");
}

/// Fuzz target `tdengine_raw`: normalising a `raw` TDengine payload (first byte picks the
/// protocol) leaves no line ending in `\r` and no blank line and is idempotent (line and
/// telnet; JSON unwraps one array per call by design), and a body of the piece is the
/// piece (in `[...]` for JSON).
pub fn tdengine_raw(data: &[u8]) {
    use crate::sinks::tdengine::{body, raw_piece, Protocol};
    let Some((&selector, payload)) = data.split_first() else { return };
    let protocol = [Protocol::Line, Protocol::Telnet, Protocol::Json][usize::from(selector % 3)];
    let Ok(Some(piece)) = raw_piece(protocol, payload) else { return };
    let text = std::str::from_utf8(&piece.payload).expect("UTF-8 in, UTF-8 out");
    if protocol != Protocol::Json {
        let again = raw_piece(protocol, &piece.payload).expect("a normalised payload is UTF-8");
        assert_eq!(again.as_ref(), Some(&piece), "normalising twice changes nothing");
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(lines.iter().all(|line| !line.ends_with('\r') && !line.trim().is_empty()), "{text:?}");
    }
    let joined = body(protocol, std::iter::once(&piece));
    let expected = if protocol == Protocol::Json { [b"[", &piece.payload[..], b"]"].concat() } else { piece.payload };
    assert_eq!(joined, expected);
}

#[cfg(test)]
mod tests {
    /// Seeds: the shapes Kafka Connect files use, escapes of multi-byte characters, dangling escapes.
    const PROPERTIES_SEEDS: &[&str] = &[
        "name=x\nconnector.class=FileStreamSink\n",
        "# comment\n! bang\n key = value \nother:thing\nspaced value\n",
        "long=one \\\n    two\\\n",
        "u=\\u0041\\u00e9\nbad=\\u12\n",
        "\\é=x\n",
        "k\\\n",
    ];

    fn random_text(rng: &mut fastrand::Rng) -> String {
        const ALPHABET: &[char] = &['a', '=', ':', ' ', '\\', '\n', '\r', '\t', '#', '!', 'u', '0', 'é', '€', '\u{c}'];
        (0..rng.usize(0..64)).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect()
    }

    #[test]
    fn properties_smoke() {
        for seed in PROPERTIES_SEEDS {
            super::properties(seed.as_bytes());
        }
        let mut rng = fastrand::Rng::with_seed(17);
        for _ in 0..20_000 {
            super::properties(random_text(&mut rng).as_bytes());
            let mut bytes = vec![0u8; rng.usize(0..48)];
            rng.fill(&mut bytes);
            super::properties(&bytes);
        }
    }

    const CONFIG_SEEDS: &[&str] = &[
        "{\"name\":\"a\",\"config\":{\"connector.class\":\"FileStreamSink\",\"tasks.max\":2,\"x\":true}}",
        "{\"name\":\"a\",\"topics\":\"t\"}",
        "{\"name\":\"a\",\"config\":{\"name\":\"b\"}}",
        "{\"config\":{\"k\":null,\"n\":1.5e3}}",
        "{[1]}",
        "name=x\ntopics=a,b\n",
    ];

    #[test]
    fn config_text_smoke() {
        for seed in CONFIG_SEEDS.iter().chain(PROPERTIES_SEEDS) {
            super::config_text(seed.as_bytes());
        }
        let mut rng = fastrand::Rng::with_seed(23);
        const PIECES: &[&str] =
            &["{", "}", "\"", ":", ",", "name", "config", "k", "1", "true", "null", "[", "]", " ", "=", "\\"];
        for _ in 0..20_000 {
            let text: String = (0..rng.usize(0..24)).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
            super::config_text(text.as_bytes());
        }
    }

    #[test]
    fn tdengine_raw_smoke() {
        const SEEDS: &[&[u8]] = &[
            b"\0st,t1=3 c1=3i64 1626006833639000000\r\n\n# comment\nst c2=2i64 1\n",
            b"\x01meters.current 1648432611249 10.3 location=California\r\n\r\n",
            b"\x02[{\"metric\":\"m\",\"timestamp\":1,\"value\":2,\"tags\":{}}]",
            b"\x02 [ ] ",
            b"\0\r\n \r",
        ];
        for seed in SEEDS {
            super::tdengine_raw(seed);
        }
        let mut rng = fastrand::Rng::with_seed(29);
        const ALPHABET: &[u8] = b"ab =,#\r\n\t[]{}\"0";
        for _ in 0..20_000 {
            let mut data: Vec<u8> = (0..rng.usize(1..40)).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect();
            data[0] = rng.u8(..);
            super::tdengine_raw(&data);
        }
    }

    #[test]
    fn escaped_pairs_read_back() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..5_000 {
            let pairs: Vec<(String, String)> =
                (0..rng.usize(1..4)).map(|_| (random_text(&mut rng), random_text(&mut rng))).collect();
            let text: String = pairs
                .iter()
                .map(|(k, v)| format!("{}={}\n", super::escape_property(k), super::escape_property(v)))
                .collect();
            assert_eq!(crate::config::properties::parse(&text).unwrap(), pairs, "{text:?}");
        }
    }
}
