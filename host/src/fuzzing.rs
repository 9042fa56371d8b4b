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
