//! Value helpers that reproduce Java's text forms where Kafka's transforms expose them:
//! `BigDecimal` (for `Decimal`), `Double.toString` / `Float.toString`, `Long.parseLong`,
//! `Double.parseDouble`, the ISO-8601 forms of `Values.dateFormatFor`, base64, and the subset
//! of `Values.parseString` that `InsertHeader` uses to type its literal.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::record::Data;
use super::schema::{Schema, SchemaKind};

/// Base64 as JsonConverter writes bytes (standard alphabet, padded).
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Base64 as JsonConverter reads bytes (padding optional).
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text.trim()).map_err(|e| format!("invalid base64 ({e})"))
}

/// A decimal number: `unscaled × 10^-scale`, as Java's `BigDecimal` (limited to 128 bits of
/// unscaled value, 38 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BigDec {
    pub unscaled: i128,
    pub scale: i32,
}

impl BigDec {
    /// Reads the text form Java's `new BigDecimal(String)` accepts: an optional sign, digits
    /// with an optional point, an optional exponent.
    pub(crate) fn parse(text: &str) -> Option<BigDec> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut unscaled: i128 = 0;
        let mut scale: i64 = 0;
        let mut digits = 0;
        let mut seen_point = false;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => {
                    unscaled = unscaled.checked_mul(10)?.checked_add(i128::from(bytes[i] - b'0'))?;
                    digits += 1;
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => break,
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        if i < bytes.len() {
            if !matches!(bytes[i], b'e' | b'E') {
                return None;
            }
            let exponent: i64 = text[i + 1..].strip_prefix('+').unwrap_or(&text[i + 1..]).parse().ok()?;
            if text[i + 1..].starts_with("+-") || text[i + 1..].is_empty() {
                return None;
            }
            scale -= exponent;
        }
        let scale = i32::try_from(scale).ok()?;
        Some(BigDec { unscaled: if negative { -unscaled } else { unscaled }, scale })
    }

    /// Reads a JSON number (its shortest text form) as a decimal.
    pub(crate) fn from_json_number(number: &Number) -> Option<BigDec> {
        if let Some(i) = number.as_i64() {
            return Some(BigDec { unscaled: i128::from(i), scale: 0 });
        }
        if let Some(u) = number.as_u64() {
            return Some(BigDec { unscaled: i128::from(u), scale: 0 });
        }
        BigDec::parse(&number.to_string())
    }

    /// Reads the big-endian two's complement bytes of the unscaled value (Kafka's `Decimal`).
    pub(crate) fn from_bytes(bytes: &[u8], scale: i32) -> Result<BigDec, String> {
        if bytes.is_empty() {
            return Err("a Decimal needs at least one byte".into());
        }
        if bytes.len() > 16 {
            return Err(format!("Decimal of {} bytes is wider than the 16 bytes sluice handles", bytes.len()));
        }
        let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
        let mut wide = [fill; 16];
        wide[16 - bytes.len()..].copy_from_slice(bytes);
        Ok(BigDec { unscaled: i128::from_be_bytes(wide), scale })
    }

    /// The minimal big-endian two's complement bytes of the unscaled value (as Java's
    /// `BigInteger.toByteArray`).
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let all = self.unscaled.to_be_bytes();
        let mut start = 0;
        while start < 15 {
            let (b, next) = (all[start], all[start + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        all[start..].to_vec()
    }

    /// The same number at `scale`, when that loses nothing.
    pub(crate) fn rescale(self, scale: i32) -> Option<BigDec> {
        if scale == self.scale {
            return Some(self);
        }
        if scale > self.scale {
            let factor = 10i128.checked_pow(u32::try_from(scale - self.scale).ok()?)?;
            return Some(BigDec { unscaled: self.unscaled.checked_mul(factor)?, scale });
        }
        let factor = 10i128.checked_pow(u32::try_from(self.scale - scale).ok()?)?;
        (self.unscaled % factor == 0).then_some(BigDec { unscaled: self.unscaled / factor, scale })
    }

    /// Java's `BigDecimal.toString()`: plain when the scale is not negative and the number is
    /// not tiny, scientific (`1.23E+5`) otherwise.
    pub(crate) fn to_java_string(self) -> String {
        let negative = self.unscaled < 0;
        let digits = self.unscaled.unsigned_abs().to_string();
        let adjusted = -i64::from(self.scale) + (digits.len() as i64 - 1);
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        if self.scale >= 0 && adjusted >= -6 {
            let scale = self.scale as usize;
            if scale == 0 {
                out.push_str(&digits);
            } else if digits.len() > scale {
                out.push_str(&digits[..digits.len() - scale]);
                out.push('.');
                out.push_str(&digits[digits.len() - scale..]);
            } else {
                out.push_str("0.");
                out.push_str(&"0".repeat(scale - digits.len()));
                out.push_str(&digits);
            }
        } else {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push('E');
            if adjusted >= 0 {
                out.push('+');
            }
            out.push_str(&adjusted.to_string());
        }
        out
    }

    /// The nearest `f64` (`BigDecimal.doubleValue`).
    pub(crate) fn to_f64(self) -> f64 {
        format!("{}e{}", self.unscaled, -i64::from(self.scale)).parse().unwrap_or(f64::NAN)
    }

    /// The integer part, truncated toward zero and wrapped to 64 bits (`BigDecimal.longValue`).
    pub(crate) fn to_i64_wrapping(self) -> i64 {
        let integral = if self.scale <= 0 {
            10i128.checked_pow(self.scale.unsigned_abs()).map_or(0, |f| self.unscaled.wrapping_mul(f))
        } else {
            10i128.checked_pow(self.scale as u32).map_or(0, |f| self.unscaled / f)
        };
        integral as i64
    }
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, `1.0E10` style outside, always
/// with a digit after the point; the digits are the shortest that read back the same.
pub(crate) fn java_double_string(value: f64) -> String {
    java_float_text(value.is_nan(), value.is_infinite(), value.is_sign_negative(), value == 0.0, &format!("{value:e}"))
}

/// Java's `Float.toString` (as [`java_double_string`], with the shortest `f32` digits).
pub(crate) fn java_float_string(value: f32) -> String {
    java_float_text(value.is_nan(), value.is_infinite(), value.is_sign_negative(), value == 0.0, &format!("{value:e}"))
}

fn java_float_text(nan: bool, infinite: bool, negative: bool, zero: bool, scientific: &str) -> String {
    if nan {
        return "NaN".into();
    }
    if infinite {
        return if negative { "-Infinity".into() } else { "Infinity".into() };
    }
    if zero {
        return if negative { "-0.0".into() } else { "0.0".into() };
    }
    // `scientific` is Rust's shortest form: `-1.2345e6`, `5e-4`.
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is a number");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if (-3..7).contains(&exponent) {
        if exponent >= 0 {
            let point = exponent as usize + 1;
            if digits.len() > point {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            } else {
                out.push_str(&digits);
                out.push_str(&"0".repeat(point - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exponent - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exponent.to_string());
    }
    out
}

/// A JSON number for an `f64`; NaN and infinities have none.
pub(crate) fn f64_json(value: f64) -> Result<Value, String> {
    Number::from_f64(value)
        .map(Value::Number)
        .ok_or_else(|| format!("{} cannot be written in JSON", java_double_string(value)))
}

/// A JSON number for an `f32`: the `f64` nearest to the float's shortest decimal form, so it is
/// written as Java writes the float (`1.1`, not `1.100000023841858`).
pub(crate) fn f32_json(value: f32) -> Result<Value, String> {
    let widened: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    Number::from_f64(widened)
        .map(Value::Number)
        .ok_or_else(|| format!("{} cannot be written in JSON", java_float_string(value)))
}

/// Java's `Long.parseLong`: an optional sign and decimal digits, nothing else, in range.
pub(crate) fn parse_java_long(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Java's `Double.parseDouble` for decimal text: surrounding whitespace, `NaN`, `Infinity`,
/// and a trailing `f`/`d` are accepted (hexadecimal floats are not).
pub(crate) fn parse_java_double(text: &str) -> Option<f64> {
    let text = text.trim_matches(|c: char| c <= ' ');
    let (sign, body) = match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let valid = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

/// Milliseconds in a day.
pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// The ISO-8601 text Kafka gives a `java.util.Date` (`Values.dateFormatFor`): a time of day
/// (`HH:mm:ss.SSS'Z'`) under one day, a date (`yyyy-MM-dd`) at midnight, a full timestamp
/// otherwise. Kafka formats in the JVM's time zone; sluice always uses UTC.
pub(crate) fn iso_string_for_millis(millis: i64) -> String {
    let pattern = if millis < MILLIS_PER_DAY {
        "HH:mm:ss.SSS'Z'"
    } else if millis % MILLIS_PER_DAY == 0 {
        "yyyy-MM-dd"
    } else {
        "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
    };
    super::datefmt::JavaDateFormat::compile(pattern).expect("built-in pattern compiles").format(millis)
}

/// Types a literal as Kafka's `Values.parseString` does, for `InsertHeader`'s `value.literal`:
/// `null`, `true`/`false`, integers (the narrowest of INT8..INT64, Decimal beyond), numbers with
/// a fraction or exponent (FLOAT32 when finite there, else FLOAT64), ISO-8601 dates, times and
/// timestamps, `[..]` arrays and `{..}` maps of such values; anything else is a STRING.
pub(crate) fn parse_literal(text: &str) -> Data {
    if text.is_empty() {
        return Data::new(Some(Schema::new(SchemaKind::String)), Value::from(""));
    }
    let mut parser = LiteralParser { tokens: tokenize(text), at: 0 };
    match parser.top_level() {
        Some(data) if parser.at == parser.tokens.len() => data,
        _ => Data::new(Some(Schema::new(SchemaKind::String)), Value::from(text)),
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                current.push(c);
                escaped = true;
            }
            ':' | ',' | '{' | '}' | '[' | ']' | '"' => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
                tokens.push(c.to_string());
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

struct LiteralParser {
    tokens: Vec<String>,
    at: usize,
}

impl LiteralParser {
    fn skip_blank(&mut self) {
        while self.at < self.tokens.len() && self.tokens[self.at].trim().is_empty() {
            self.at += 1;
        }
    }

    fn eat(&mut self, expected: &str) -> bool {
        let save = self.at;
        self.skip_blank();
        if self.at < self.tokens.len() && self.tokens[self.at].trim() == expected {
            self.at += 1;
            true
        } else {
            self.at = save;
            false
        }
    }

    /// The whole literal: containers and scalars; `None` falls back to a string.
    fn top_level(&mut self) -> Option<Data> {
        if self.tokens.len() == 1 {
            self.at = 1;
            return scalar(self.tokens[0].trim());
        }
        // Whole-text temporal forms contain ':' and so span several tokens.
        let joined: String = self.tokens.concat();
        if let Some(temporal) = temporal(joined.trim()) {
            self.at = self.tokens.len();
            return Some(temporal);
        }
        if self.eat("[") {
            return self.array();
        }
        if self.eat("{") {
            return self.map();
        }
        None
    }

    fn embedded(&mut self) -> Option<Data> {
        self.skip_blank();
        if self.eat("\"") {
            let mut content = String::new();
            while self.at < self.tokens.len() && self.tokens[self.at] != "\"" {
                content.push_str(&self.tokens[self.at]);
                self.at += 1;
            }
            if self.at == self.tokens.len() {
                return None;
            }
            self.at += 1;
            return Some(
                temporal(&content)
                    .unwrap_or_else(|| Data::new(Some(Schema::new(SchemaKind::String)), Value::from(content))),
            );
        }
        if self.eat("[") {
            return self.array();
        }
        if self.eat("{") {
            return self.map();
        }
        let token = self.tokens.get(self.at)?.trim().to_string();
        if matches!(token.as_str(), "," | ":" | "]" | "}") {
            return None;
        }
        self.at += 1;
        // A time or timestamp literal is split at its colons: try the next four tokens with it.
        if token.as_bytes().first().is_some_and(u8::is_ascii_digit) && self.at + 4 <= self.tokens.len() {
            let joined: String = std::iter::once(token.as_str())
                .chain(self.tokens[self.at..self.at + 4].iter().map(String::as_str))
                .collect();
            if let Some(found) = temporal(&joined) {
                self.at += 4;
                return Some(found);
            }
        }
        let parsed = scalar(&token)?;
        // Inside a container only typed scalars are allowed; a bare word is not.
        (parsed.schema.as_ref().map(|s| s.kind != SchemaKind::String).unwrap_or(true) || parsed.value.is_null())
            .then_some(parsed)
    }

    fn array(&mut self) -> Option<Data> {
        let mut items = Vec::new();
        let mut schemas = Vec::new();
        if self.eat("]") {
            return Some(Data::new(None, Value::Array(items)));
        }
        loop {
            let item = self.embedded()?;
            schemas.push(item.schema.clone());
            items.push(item.value);
            if self.eat("]") {
                break;
            }
            if !self.eat(",") {
                return None;
            }
        }
        let common = common_schema(&schemas);
        let items = match &common {
            Some(schema) => items.into_iter().map(|v| widen(v, schema)).collect(),
            None => items,
        };
        Some(Data::new(common.map(|items| Schema::new(SchemaKind::Array(Box::new(items)))), Value::Array(items)))
    }

    fn map(&mut self) -> Option<Data> {
        let mut entries = Vec::new();
        let (mut key_schemas, mut value_schemas) = (Vec::new(), Vec::new());
        if self.eat("}") {
            return Some(Data::new(None, Value::Object(Map::new())));
        }
        loop {
            let key = self.embedded()?;
            if key.value.is_null() || !self.eat(":") {
                return None;
            }
            let value = self.embedded()?;
            key_schemas.push(key.schema.clone());
            value_schemas.push(value.schema.clone());
            entries.push((key.value, value.value));
            self.eat(",");
            if self.eat("}") {
                break;
            }
            if self.at >= self.tokens.len() {
                return None;
            }
        }
        let (keys, values) = (common_schema(&key_schemas), common_schema(&value_schemas));
        let string_keys = keys.as_ref().is_some_and(|k| k.kind == SchemaKind::String);
        let value_of = |v: Value| match &values {
            Some(schema) => widen(v, schema),
            None => v,
        };
        let value = if string_keys || keys.is_none() {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, value_of(v));
            }
            Value::Object(map)
        } else {
            let key_schema = keys.clone().expect("checked above");
            Value::Array(
                entries.into_iter().map(|(k, v)| Value::Array(vec![widen(k, &key_schema), value_of(v)])).collect(),
            )
        };
        let schema = match (keys, values) {
            (Some(k), Some(v)) => Some(Schema::new(SchemaKind::Map(Box::new(k), Box::new(v)))),
            _ => None,
        };
        Some(Data::new(schema, value))
    }
}

/// A single token: null, boolean, temporal, number, or a string.
fn scalar(token: &str) -> Option<Data> {
    match token {
        "null" => return Some(Data::null()),
        "true" => return Some(Data::new(Some(Schema::new(SchemaKind::Boolean)), Value::Bool(true))),
        "false" => return Some(Data::new(Some(Schema::new(SchemaKind::Boolean)), Value::Bool(false))),
        _ => {}
    }
    if token.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Some(found) = temporal(token) {
            return Some(found);
        }
    }
    if token.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
        if let Some(number) = number(token) {
            return Some(number);
        }
    }
    Some(Data::new(Some(Schema::new(SchemaKind::String)), Value::from(token)))
}

fn number(token: &str) -> Option<Data> {
    let decimal = BigDec::parse(token)?;
    let integral = decimal.rescale(0);
    if let Some(integral) = integral.filter(|d| i64::try_from(d.unscaled).is_ok()) {
        let value = integral.unscaled as i64;
        let kind = if i8::try_from(value).is_ok() {
            SchemaKind::Int8
        } else if i16::try_from(value).is_ok() {
            SchemaKind::Int16
        } else if i32::try_from(value).is_ok() {
            SchemaKind::Int32
        } else {
            SchemaKind::Int64
        };
        return Some(Data::new(Some(Schema::new(kind)), Value::from(value)));
    }
    let double = decimal.to_f64();
    if decimal.scale != 0 && (double as f32).is_finite() {
        return Some(Data::new(Some(Schema::new(SchemaKind::Float32)), f32_json(double as f32).ok()?));
    }
    if decimal.scale != 0 && double.is_finite() {
        return Some(Data::new(Some(Schema::new(SchemaKind::Float64)), f64_json(double).ok()?));
    }
    Some(Data::new(Some(Schema::decimal(decimal.scale)), Value::from(base64_encode(&decimal.to_bytes()))))
}

/// `yyyy-MM-dd`, `HH:mm:ss.SSS'Z'` or `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, by length as Kafka does.
fn temporal(token: &str) -> Option<Data> {
    let token = token.replace("\\:", ":");
    let (pattern, schema) = match token.len() {
        13 => ("HH:mm:ss.SSS'Z'", Schema::time()),
        24 => ("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Schema::timestamp()),
        10 => ("yyyy-MM-dd", Schema::date()),
        _ => return None,
    };
    let format = super::datefmt::JavaDateFormat::compile(pattern).ok()?;
    let millis = format.parse(&token).ok()?;
    let value = match schema.kind {
        SchemaKind::Int32 if schema.name.as_deref() == Some(super::schema::DATE) => {
            Value::from(millis.div_euclid(MILLIS_PER_DAY))
        }
        SchemaKind::Int32 => Value::from(millis.rem_euclid(MILLIS_PER_DAY)),
        _ => Value::from(millis),
    };
    Some(Data::new(Some(schema), value))
}

/// The schema every element fits, widening numbers as Kafka's `SchemaMerger` does; `None`
/// when they have none in common (or are all null).
fn common_schema(schemas: &[Option<Schema>]) -> Option<Schema> {
    let rank = |k: &SchemaKind| match k {
        SchemaKind::Int8 => Some(0),
        SchemaKind::Int16 => Some(1),
        SchemaKind::Int32 => Some(2),
        SchemaKind::Int64 => Some(3),
        SchemaKind::Float32 => Some(4),
        SchemaKind::Float64 => Some(5),
        _ => None,
    };
    let mut common: Option<Schema> = None;
    for schema in schemas.iter().flatten() {
        common = match common {
            None => Some(schema.clone()),
            Some(previous) if previous == *schema => Some(previous),
            Some(previous) => match (rank(&previous.kind), rank(&schema.kind)) {
                (Some(a), Some(b)) if previous.name.is_none() && schema.name.is_none() => {
                    Some(if b > a { schema.clone() } else { previous })
                }
                _ => return None,
            },
        };
    }
    common
}

/// A number re-typed to a wider numeric schema (integers to floats).
fn widen(value: Value, schema: &Schema) -> Value {
    match (&schema.kind, &value) {
        (SchemaKind::Float32, Value::Number(n)) => n.as_f64().and_then(|f| f32_json(f as f32).ok()).unwrap_or(value),
        (SchemaKind::Float64, Value::Number(n)) => n.as_f64().and_then(|f| f64_json(f).ok()).unwrap_or(value),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn java_double_text() {
        assert_eq!(java_double_string(1.0), "1.0");
        assert_eq!(java_double_string(42.5), "42.5");
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1234567.0), "1234567.0");
        assert_eq!(java_double_string(0.001), "0.001");
        assert_eq!(java_double_string(0.0001), "1.0E-4");
        assert_eq!(java_double_string(-1.5e-10), "-1.5E-10");
        assert_eq!(java_float_string(1.1), "1.1");
        assert_eq!(java_float_string(32.0), "32.0");
    }

    #[test]
    fn big_decimal_text_and_bytes() {
        let d = BigDec::parse("123.45").unwrap();
        assert_eq!(d, BigDec { unscaled: 12345, scale: 2 });
        assert_eq!(d.to_java_string(), "123.45");
        assert_eq!(BigDec::parse("1E+3").unwrap().to_java_string(), "1E+3");
        assert_eq!(BigDec::parse("0.0000001").unwrap().to_java_string(), "1E-7");
        assert_eq!(BigDec::parse("-0.05").unwrap().to_java_string(), "-0.05");
        assert_eq!(BigDec::parse("abc"), None);
        // 12345 = 0x3039; -1 is one 0xff byte; 128 needs a leading zero byte.
        assert_eq!(d.to_bytes(), vec![0x30, 0x39]);
        assert_eq!(BigDec { unscaled: -1, scale: 0 }.to_bytes(), vec![0xff]);
        assert_eq!(BigDec { unscaled: 128, scale: 0 }.to_bytes(), vec![0x00, 0x80]);
        assert_eq!(BigDec::from_bytes(&[0xff, 0x7f], 0).unwrap().unscaled, -129);
        // kafka_connect.md §4: "MDk=" is 0x30 0x39, 123.45 at scale 2.
        assert_eq!(BigDec::from_bytes(&base64_decode("MDk=").unwrap(), 2).unwrap().to_java_string(), "123.45");
        assert_eq!(BigDec::parse("12.7").unwrap().to_i64_wrapping(), 12);
        assert_eq!(BigDec::parse("-12.7").unwrap().to_i64_wrapping(), -12);
    }

    #[test]
    fn java_number_parsing() {
        assert_eq!(parse_java_long("-42"), Some(-42));
        assert_eq!(parse_java_long("4.2"), None);
        assert_eq!(parse_java_long(" 4"), None);
        assert_eq!(parse_java_double(" 1.5f "), Some(1.5));
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_java_double("inf"), None);
    }

    #[test]
    fn iso_forms_of_dates() {
        assert_eq!(iso_string_for_millis(1000), "00:00:01.000Z");
        assert_eq!(iso_string_for_millis(MILLIS_PER_DAY * 365), "1971-01-01");
        assert_eq!(iso_string_for_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    // Mirrors ValuesTest's parseString cases that InsertHeaderTest relies on.
    #[test]
    fn literals_are_typed_like_values_parse_string() {
        let s = |t: &str| parse_literal(t);
        assert_eq!(s("hello"), Data::new(Some(Schema::new(SchemaKind::String)), json!("hello")));
        assert_eq!(s("true"), Data::new(Some(Schema::new(SchemaKind::Boolean)), json!(true)));
        assert_eq!(s("42"), Data::new(Some(Schema::new(SchemaKind::Int8)), json!(42)));
        assert_eq!(s("1000"), Data::new(Some(Schema::new(SchemaKind::Int16)), json!(1000)));
        assert_eq!(s("3000000000"), Data::new(Some(Schema::new(SchemaKind::Int64)), json!(3_000_000_000i64)));
        assert_eq!(s("1.5"), Data::new(Some(Schema::new(SchemaKind::Float32)), json!(1.5)));
        assert_eq!(s("null"), Data::null());
        assert_eq!(s("2019-08-23"), Data::new(Some(Schema::date()), json!(18131)));
        assert_eq!(s("2019-08-23T14:34:54.346Z"), Data::new(Some(Schema::timestamp()), json!(1_566_570_894_346i64)));
        assert_eq!(s("14:34:54.346Z"), Data::new(Some(Schema::time()), json!(52_494_346)));
        assert_eq!(
            s("[1, 2, 300]"),
            Data::new(
                Some(Schema::new(SchemaKind::Array(Box::new(Schema::new(SchemaKind::Int16))))),
                json!([1, 2, 300])
            )
        );
        assert_eq!(
            s("{\"a\":1,\"b\":2}"),
            Data::new(
                Some(Schema::new(SchemaKind::Map(
                    Box::new(Schema::new(SchemaKind::String)),
                    Box::new(Schema::new(SchemaKind::Int8))
                ))),
                json!({"a":1,"b":2})
            )
        );
        assert_eq!(s("true}"), Data::new(Some(Schema::new(SchemaKind::String)), json!("true}")));
        assert_eq!(s("a:b"), Data::new(Some(Schema::new(SchemaKind::String)), json!("a:b")));
    }
}
