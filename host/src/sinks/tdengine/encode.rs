//! Request building: turning outputs into schemaless payloads. `raw` outputs are normalised
//! (lines split, `\r` and blank lines stripped, JSON arrays flattened); `point`s are encoded
//! as line protocol with TDengine's escaping and type suffixes, keeping each column's type
//! stable. Bodies join the payloads of many records into one request.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::config::{Precision, Protocol};
use crate::model::{Point, Value};

/// One record's payload for one (database, protocol) request group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Lines joined with `\n` (line/telnet), or JSON objects joined with `,` (json).
    pub payload: Vec<u8>,
}

/// Normalises a `raw` payload: for line and telnet, splits lines, strips `\r` and blank
/// lines (and `#` comments for line protocol); for JSON, unwraps a top-level array so many
/// records merge into one array. `None` when nothing is left to write.
pub fn raw_piece(protocol: Protocol, data: &[u8]) -> Result<Option<Piece>, String> {
    let text = std::str::from_utf8(data).map_err(|e| {
        format!("the {} payload is not UTF-8 ({e}); TDengine schemaless input is text", protocol.name())
    })?;
    match protocol {
        Protocol::Json => {
            let trimmed = text.trim();
            let inner = match trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(inner) => inner.trim(),
                None => trimmed,
            };
            Ok((!inner.is_empty()).then(|| Piece { payload: inner.as_bytes().to_vec() }))
        }
        Protocol::Line | Protocol::Telnet => {
            let mut payload = Vec::with_capacity(text.len());
            for line in text.split('\n') {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() || (protocol == Protocol::Line && line.starts_with('#')) {
                    continue;
                }
                if !payload.is_empty() {
                    payload.push(b'\n');
                }
                payload.extend_from_slice(line.as_bytes());
            }
            Ok((!payload.is_empty()).then_some(Piece { payload }))
        }
    }
}

/// Joins pieces into one request body.
pub fn body<'a>(protocol: Protocol, pieces: impl Iterator<Item = &'a Piece>) -> Vec<u8> {
    let mut out = Vec::new();
    let separator = if protocol == Protocol::Json { b',' } else { b'\n' };
    if protocol == Protocol::Json {
        out.push(b'[');
    }
    for (i, piece) in pieces.enumerate() {
        if i > 0 {
            out.push(separator);
        }
        out.extend_from_slice(&piece.payload);
    }
    if protocol == Protocol::Json {
        out.push(b']');
    }
    out
}

/// Gzip-compresses a body.
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

/// A line-protocol field type (the suffix TDengine reads it by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `t`/`f`.
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `"…"` (VARCHAR/BINARY).
    Binary,
    /// `L"…"` (NCHAR).
    Nchar,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::I8 => "i8",
            FieldType::I16 => "i16",
            FieldType::I32 => "i32",
            FieldType::I64 => "i64",
            FieldType::U8 => "u8",
            FieldType::U16 => "u16",
            FieldType::U32 => "u32",
            FieldType::U64 => "u64",
            FieldType::F32 => "f32",
            FieldType::F64 => "f64",
            FieldType::Binary => "binary",
            FieldType::Nchar => "nchar",
        }
    }
}

/// A field value normalised for encoding.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(&'a str),
}

/// The value's type and content; `None` for null, an error for bytes that are not UTF-8.
fn scalar<'a>(name: &str, value: &'a Value) -> Result<Option<(FieldType, Scalar<'a>)>, String> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Boolean(b) => (FieldType::Bool, Scalar::Bool(*b)),
        Value::Int8(v) => (FieldType::I8, Scalar::Int((*v).into())),
        Value::Int16(v) => (FieldType::I16, Scalar::Int((*v).into())),
        Value::Int32(v) => (FieldType::I32, Scalar::Int((*v).into())),
        Value::Int64(v) => (FieldType::I64, Scalar::Int((*v).into())),
        Value::Uint8(v) => (FieldType::U8, Scalar::Int((*v).into())),
        Value::Uint16(v) => (FieldType::U16, Scalar::Int((*v).into())),
        Value::Uint32(v) => (FieldType::U32, Scalar::Int((*v).into())),
        Value::Uint64(v) => (FieldType::U64, Scalar::Int((*v).into())),
        Value::Float32(v) => (FieldType::F32, Scalar::Float((*v).into())),
        Value::Float64(v) => (FieldType::F64, Scalar::Float(*v)),
        Value::Text(s) => (FieldType::Nchar, Scalar::Text(s)),
        Value::Binary(bytes) => (
            FieldType::Binary,
            Scalar::Text(std::str::from_utf8(bytes).map_err(|_| {
                format!("field `{name}` holds bytes that are not UTF-8, which line protocol cannot carry")
            })?),
        ),
        Value::TimestampUs(us) => (FieldType::I64, Scalar::Int((*us).into())),
    }))
}

fn int_range(ty: FieldType) -> Option<(i128, i128)> {
    Some(match ty {
        FieldType::I8 => (i8::MIN.into(), i8::MAX.into()),
        FieldType::I16 => (i16::MIN.into(), i16::MAX.into()),
        FieldType::I32 => (i32::MIN.into(), i32::MAX.into()),
        FieldType::I64 => (i64::MIN.into(), i64::MAX.into()),
        FieldType::U8 => (0, u8::MAX.into()),
        FieldType::U16 => (0, u16::MAX.into()),
        FieldType::U32 => (0, u32::MAX.into()),
        FieldType::U64 => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// Converts a value to an established column type when that loses nothing.
fn convert(value: Scalar<'_>, from: FieldType, to: FieldType) -> Option<Scalar<'_>> {
    match (value, to) {
        (v, to) if to == from => Some(v),
        (Scalar::Int(i), to) if int_range(to).is_some_and(|(lo, hi)| i >= lo && i <= hi) => Some(Scalar::Int(i)),
        (Scalar::Int(i), FieldType::F64) if i.unsigned_abs() <= 1 << 53 => Some(Scalar::Float(i as f64)),
        (Scalar::Int(i), FieldType::F32) if i.unsigned_abs() <= 1 << 24 => Some(Scalar::Float(i as f64)),
        (Scalar::Float(f), FieldType::F64) => Some(Scalar::Float(f)),
        (Scalar::Float(f), FieldType::F32) if (f as f32) as f64 == f => Some(Scalar::Float(f)),
        (Scalar::Text(s), FieldType::Binary | FieldType::Nchar) => Some(Scalar::Text(s)),
        _ => None,
    }
}

/// Column types per database, then measurement, then field.
type Known = HashMap<String, HashMap<String, HashMap<String, FieldType>>>;

/// The column types this sink has written, per (database, measurement, field), so a value
/// of another type is converted to the established one (or rejected) instead of making
/// TDengine fail the whole request with a type conflict.
#[derive(Debug, Clone, Default)]
pub struct ColumnTypes {
    known: Arc<Mutex<Known>>,
}

/// The field types of one measurement (created on first use, allocating only then).
fn measurement_types<'k>(known: &'k mut Known, db: &str, measurement: &str) -> &'k mut HashMap<String, FieldType> {
    if !known.contains_key(db) {
        known.insert(db.to_owned(), HashMap::new());
    }
    let measurements = known.get_mut(db).expect("inserted above");
    if !measurements.contains_key(measurement) {
        measurements.insert(measurement.to_owned(), HashMap::new());
    }
    measurements.get_mut(measurement).expect("inserted above")
}

/// Encodes a point as one line of line protocol at `precision`.
pub fn point_line(
    point: &Point,
    db: &str,
    precision: Precision,
    table_name_key: Option<&str>,
    types: &ColumnTypes,
) -> Result<Piece, String> {
    let mut line = String::with_capacity(64 + point.fields.len() * 24);
    let measurement = &point.measurement;
    if measurement.is_empty() {
        return Err("the point has an empty measurement".into());
    }
    if measurement.starts_with(['#', ',', ' ', '\\']) {
        return Err(format!(
            "measurement `{measurement}` starts with `{}`, which line protocol cannot carry at the start of a line",
            &measurement[..1]
        ));
    }
    if measurement.len() > 192 {
        return Err(format!("measurement `{measurement}` is longer than TDengine's 192-byte limit"));
    }
    escape_into(&mut line, measurement, "measurement", &[',', ' '])?;
    let mut tags: Vec<(&str, &str)> = point.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
    if let (Some(table), Some(key)) = (&point.table, table_name_key) {
        tags.retain(|(k, _)| *k != key);
        tags.push((key, &**table));
    }
    for (key, value) in tags {
        if value.is_empty() {
            continue;
        }
        line.push(',');
        escape_into(&mut line, key, "tag name", &[',', '=', ' '])?;
        line.push('=');
        escape_into(&mut line, value, &format!("tag `{key}`"), &[',', '=', ' '])?;
    }
    let mut written = 0;
    let mut known = types.known.lock().unwrap_or_else(|e| e.into_inner());
    let settled = measurement_types(&mut known, db, measurement);
    for column in &point.fields {
        let Some((from, value)) = scalar(&column.name, &column.value)? else { continue };
        let ty = match settled.get(&*column.name) {
            Some(ty) => *ty,
            None => {
                settled.insert(column.name.to_string(), from);
                from
            }
        };
        let value = convert(value, from, ty).ok_or_else(|| {
            format!(
                "field `{}` of `{measurement}` was first written as {}, this value is {} and does not fit; \
                 TDengine would reject it as a type conflict",
                column.name,
                ty.name(),
                from.name()
            )
        })?;
        line.push(if written == 0 { ' ' } else { ',' });
        written += 1;
        escape_into(&mut line, &column.name, "field name", &[',', '=', ' '])?;
        line.push('=');
        field_value(&mut line, &column.name, ty, value)?;
    }
    drop(known);
    if written == 0 {
        return Err(format!("the point of `{measurement}` has no non-null field; TDengine needs at least one"));
    }
    let ts = precision
        .from_micros(point.time_us)
        .filter(|ts| *ts >= 0)
        .ok_or_else(|| format!("time {} µs cannot be written at precision {}", point.time_us, precision.name()))?;
    let _ = write!(line, " {ts}");
    Ok(Piece { payload: line.into_bytes() })
}

fn field_value(out: &mut String, name: &str, ty: FieldType, value: Scalar<'_>) -> Result<(), String> {
    match value {
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Int(i) => {
            let _ = write!(out, "{i}{}", ty.name());
        }
        Scalar::Float(f) => {
            if !f.is_finite() {
                return Err(format!("field `{name}` is {f}, which TDengine cannot store"));
            }
            if ty == FieldType::F32 {
                let _ = write!(out, "{}f32", f as f32);
            } else {
                let _ = write!(out, "{f}f64");
            }
        }
        Scalar::Text(s) => {
            if ty == FieldType::Nchar {
                out.push('L');
            }
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\n' | '\r' => {
                        return Err(format!("field `{name}` contains a line break, which line protocol cannot carry"))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
    Ok(())
}

/// Appends `text` escaping `\` and `special` with a backslash; line breaks are errors.
fn escape_into(out: &mut String, text: &str, what: &str, special: &[char]) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    for c in text.chars() {
        if c == '\n' || c == '\r' {
            return Err(format!(
                "the {what} `{}` contains a line break, which line protocol cannot carry",
                text.escape_debug()
            ));
        }
        if c == '\\' || special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bytes, Column};

    fn point(measurement: &str, tags: &[(&str, &str)], fields: Vec<(&str, Value)>) -> Point {
        Point {
            table: None,
            measurement: measurement.into(),
            data_source: Default::default(),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            time_us: 1_648_432_611_249_000,
            fields: fields.into_iter().map(|(n, value)| Column { name: n.into(), value }).collect(),
        }
    }

    fn line(p: &Point, precision: Precision) -> String {
        String::from_utf8(point_line(p, "db", precision, None, &ColumnTypes::default()).unwrap().payload).unwrap()
    }

    #[test]
    fn points_encode_with_suffixes() {
        let p = point(
            "meters",
            &[("location", "Beijing.Haidian"), ("groupid", "2")],
            vec![
                ("current", Value::Float64(11.8)),
                ("voltage", Value::Int32(221)),
                ("phase", Value::Float32(0.28)),
                ("ok", Value::Boolean(true)),
                ("n", Value::Uint8(7)),
                ("big", Value::Int64(-5)),
                ("u", Value::Uint64(u64::MAX)),
                ("s", Value::Binary(Bytes::from_static(b"ab"))),
                ("name", Value::Text("北京".into())),
                ("skipped", Value::Null),
            ],
        );
        assert_eq!(
            line(&p, Precision::Ns),
            "meters,location=Beijing.Haidian,groupid=2 current=11.8f64,voltage=221i32,phase=0.28f32,ok=true,\
             n=7u8,big=-5i64,u=18446744073709551615u64,s=\"ab\",name=L\"北京\" 1648432611249000000"
        );
        assert!(line(&p, Precision::Ms).ends_with(" 1648432611249"));
        assert!(line(&p, Precision::Us).ends_with(" 1648432611249000"));
    }

    #[test]
    fn escaping_follows_tdengine() {
        let p = point(
            "my meas,x",
            &[("tag key", "a=b,c d\\e"), ("empty", "")],
            vec![("field=1", Value::Binary(Bytes::from_static(br#"say "hi" \o/"#)))],
        );
        assert_eq!(
            line(&p, Precision::Ms),
            r#"my\ meas\,x,tag\ key=a\=b\,c\ d\\e field\=1="say \"hi\" \\o/" 1648432611249"#
        );
        for bad in [
            point("#comment", &[], vec![("f", Value::Int8(1))]),
            point("m", &[("t", "a\nb")], vec![("f", Value::Int8(1))]),
            point("m", &[], vec![("f", Value::Text("x\ny".into()))]),
            point("m", &[], vec![("f", Value::Float64(f64::NAN))]),
            point("m", &[], vec![("f", Value::Binary(vec![0xff, 0xfe].into()))]),
            point("m", &[], vec![("f", Value::Null)]),
            point("", &[], vec![("f", Value::Int8(1))]),
        ] {
            assert!(point_line(&bad, "db", Precision::Ms, None, &ColumnTypes::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn column_types_stay_stable() {
        let types = ColumnTypes::default();
        let first = point("m", &[], vec![("v", Value::Int64(5))]);
        let narrower = point("m", &[], vec![("v", Value::Int8(6))]);
        let float = point("m", &[], vec![("v", Value::Float64(1.5))]);
        let enc =
            |p: &Point| point_line(p, "db", Precision::Ms, None, &types).map(|p| String::from_utf8(p.payload).unwrap());
        assert!(enc(&first).unwrap().contains("v=5i64"));
        assert!(enc(&narrower).unwrap().contains("v=6i64"), "converted to the established type");
        let error = enc(&float).unwrap_err();
        assert!(error.contains("first written as i64"), "{error}");
        // Other databases keep their own types.
        assert!(point_line(&float, "other", Precision::Ms, None, &types).is_ok());
    }

    #[test]
    fn table_name_key_adds_the_table_tag() {
        let mut p = point("m", &[("site", "a")], vec![("v", Value::Int8(1))]);
        p.table = Some("d1001".into());
        let piece = point_line(&p, "db", Precision::Ms, Some("tname"), &ColumnTypes::default()).unwrap();
        assert!(String::from_utf8(piece.payload).unwrap().starts_with("m,site=a,tname=d1001 "));
    }

    #[test]
    fn raw_payloads_are_normalised_and_joined() {
        let piece = raw_piece(Protocol::Line, b"a v=1 1\r\n\r\n# note\nb v=2 2\n").unwrap().unwrap();
        assert_eq!(piece.payload, b"a v=1 1\nb v=2 2");
        assert_eq!(raw_piece(Protocol::Line, b"\r\n \n").unwrap(), None);
        let telnet = raw_piece(Protocol::Telnet, b"m 1648432611 1 t=a\r\n").unwrap().unwrap();
        assert_eq!(telnet.payload, b"m 1648432611 1 t=a");
        let one = raw_piece(Protocol::Json, b" {\"metric\":\"a\"} ").unwrap().unwrap();
        let many = raw_piece(Protocol::Json, b"[{\"metric\":\"b\"},{\"metric\":\"c\"}]").unwrap().unwrap();
        assert_eq!(raw_piece(Protocol::Json, b"[ ]").unwrap(), None);
        assert_eq!(
            body(Protocol::Json, [&one, &many].into_iter()),
            br#"[{"metric":"a"},{"metric":"b"},{"metric":"c"}]"#
        );
        assert_eq!(body(Protocol::Line, [&piece, &piece].into_iter()), b"a v=1 1\nb v=2 2\na v=1 1\nb v=2 2");
        assert!(raw_piece(Protocol::Line, &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let data = b"meters v=1 1\n".repeat(100);
        let packed = gzip(&data).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
