//! Small helpers that write values in JsonConverter's payload form (see
//! [`crate::transforms::Data`]): base64 bytes, `Decimal`s as their shortest two's complement,
//! floats as the JSON numbers Java would print, and schema parameters kept in insertion order.

use base64::Engine as _;
use serde_json::{Number, Value};

/// Bytes as JsonConverter writes them: standard base64, padded.
pub(super) fn base64(bytes: &[u8]) -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Base64 as JsonConverter reads it (padding optional).
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text.trim()).ok()
}

/// A big-endian two's complement integer in the shortest form, as Java's
/// `BigInteger.toByteArray()` writes it (what Kafka's `Decimal.fromLogical` produces): redundant
/// sign bytes dropped, at least one byte.
pub(super) fn shortest_twos_complement(bytes: &[u8]) -> Vec<u8> {
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (first, next) = (bytes[start], bytes[start + 1]);
        if (first == 0x00 && next & 0x80 == 0) || (first == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    if bytes.is_empty() {
        vec![0]
    } else {
        bytes[start..].to_vec()
    }
}

/// A `Decimal`'s payload: base64 of the shortest two's complement of its unscaled value.
pub(super) fn decimal(unscaled: &[u8]) -> Value {
    base64(&shortest_twos_complement(unscaled))
}

/// A FLOAT32 as a JSON number: the `f64` nearest to the float's shortest decimal form (so `1.1`
/// stays `1.1`, as Java prints the float). NaN and infinities have no JSON form.
pub(super) fn float32(value: f32) -> Result<Value, String> {
    let widened: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    Number::from_f64(widened).map(Value::Number).ok_or_else(|| format!("the FLOAT32 {value} has no JSON form"))
}

/// A FLOAT64 as a JSON number; NaN and infinities have no JSON form.
pub(super) fn float64(value: f64) -> Result<Value, String> {
    Number::from_f64(value).map(Value::Number).ok_or_else(|| format!("the FLOAT64 {value} has no JSON form"))
}

/// Sets a schema parameter as Java's `LinkedHashMap` does: a new key goes last, an existing
/// key keeps its place.
pub(super) fn set_parameter(parameters: &mut Vec<(String, String)>, key: impl Into<String>, value: impl Into<String>) {
    let (key, value) = (key.into(), value.into());
    match parameters.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => parameters.push((key, value)),
    }
}

/// A JSON property value as Java's `Object.toString()` prints it in a schema parameter
/// (strings without quotes, other values as JSON).
pub(super) fn property_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twos_complement_is_shortened_like_big_integer() {
        assert_eq!(shortest_twos_complement(&[0x00, 0x00, 0x30, 0x39]), vec![0x30, 0x39]);
        assert_eq!(shortest_twos_complement(&[0x00, 0x80]), vec![0x00, 0x80]);
        assert_eq!(shortest_twos_complement(&[0xFF, 0xFF, 0x85]), vec![0x85]);
        assert_eq!(shortest_twos_complement(&[0xFF, 0x7F]), vec![0xFF, 0x7F]);
        assert_eq!(shortest_twos_complement(&[0x00, 0x00]), vec![0x00]);
        assert_eq!(shortest_twos_complement(&[]), vec![0x00]);
    }

    #[test]
    fn floats_print_as_java_does() {
        assert_eq!(float32(1.1).unwrap().to_string(), "1.1");
        assert!(float64(f64::NAN).is_err());
    }
}
