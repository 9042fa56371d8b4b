//! Checking an unquoted schemaless value the way TDengine reads it: a boolean (`t`, `f`,
//! `true`, `false` in any case) or a number with an optional type suffix (`i8`…`i64`, `i`,
//! `u8`…`u64`, `u`, `f32`, `f64`).

/// Checks a bare (unquoted) value; the error says what is wrong with it.
pub(crate) fn check_bare(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("the value is empty".into());
    }
    let lower = token.to_ascii_lowercase();
    if matches!(lower.as_str(), "t" | "f" | "true" | "false") {
        return Ok(());
    }
    const SUFFIXES: &[&str] = &["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "i", "u"];
    let suffix = SUFFIXES.iter().find(|s| lower.ends_with(**s) && lower.len() > s.len()).copied().unwrap_or("");
    let number = &lower[..lower.len() - suffix.len()];
    let starts_like_a_number = number.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
    if !starts_like_a_number {
        return Err(format!("`{token}` is not a number, a boolean or a quoted string"));
    }
    let range_error = || format!("`{token}` is out of range for type {suffix}");
    match suffix {
        "i8" => number.parse::<i8>().map(drop).map_err(|_| range_error()),
        "i16" => number.parse::<i16>().map(drop).map_err(|_| range_error()),
        "i32" => number.parse::<i32>().map(drop).map_err(|_| range_error()),
        "i64" | "i" => number.parse::<i64>().map(drop).map_err(|_| range_error()),
        "u8" => number.parse::<u8>().map(drop).map_err(|_| range_error()),
        "u16" => number.parse::<u16>().map(drop).map_err(|_| range_error()),
        "u32" => number.parse::<u32>().map(drop).map_err(|_| range_error()),
        "u64" | "u" => number.parse::<u64>().map(drop).map_err(|_| range_error()),
        "f32" => match number.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(()),
            _ => Err(range_error()),
        },
        _ => match number.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(()),
            _ => Err(format!("`{token}` is not a number, a boolean or a quoted string")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for ok in ["1", "-1.5", "1e3", "3i", "3u", "127i8", "255u8", "1.5f32", "2f64", "T", "tRuE", "false", ".5"] {
            assert!(check_bare(ok).is_ok(), "{ok}");
        }
        for bad in ["", "128i8", "-1u8", "abc", "1x", "nan", "inf", "1.5i32", "yes"] {
            assert!(check_bare(bad).is_err(), "{bad}");
        }
    }
}
