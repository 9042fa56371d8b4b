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

/// Fuzz target `plainbuffer`: a row built from the input (put, update or delete; primary
/// key and attribute cells of every type, any names) encodes to PlainBuffer that a reader
/// written from the format description (below, sharing nothing with the encoder but the
/// CRC-8 table) accepts: header, tags in order, lengths, every cell checksum and the row
/// checksum, the delete marker; and it reads back the same cells.
pub fn plainbuffer(data: &[u8]) {
    use crate::sinks::tablestore::plainbuffer::{encode_delete, encode_put, encode_update, Update, Value};
    let mut input = Bytes(data);
    let kind = input.byte() % 3;
    let cells = |input: &mut Bytes<'_>, max: u8| -> Vec<(String, Owned)> {
        (0..input.byte() % max).map(|_| (input.text(), input.value())).collect()
    };
    let pk = cells(&mut input, 5);
    let attributes = cells(&mut input, 6);
    let deletes: Vec<String> = (0..input.byte() % 3).map(|_| input.text()).collect();
    let key: Vec<(&str, Value<'_>)> = pk.iter().map(|(n, v)| (n.as_str(), v.borrow())).collect();
    let columns: Vec<(&str, Value<'_>)> = attributes.iter().map(|(n, v)| (n.as_str(), v.borrow())).collect();
    let (encoded, expected_data, deleted) = match kind {
        0 => (
            encode_put(&key, &columns),
            attributes.iter().map(|(n, v)| (n.clone(), Some(v.clone()), None)).collect(),
            false,
        ),
        1 => {
            let mut cells: Vec<Update<'_>> = columns.iter().map(|(n, v)| Update::Put(n, *v)).collect();
            cells.extend(deletes.iter().map(|n| Update::DeleteAll(n)));
            let mut expected: Vec<ReadCell> =
                attributes.iter().map(|(n, v)| (n.clone(), Some(v.clone()), None)).collect();
            expected.extend(deletes.iter().map(|n| (n.clone(), None, Some(1u8))));
            (encode_update(&key, &cells), expected, false)
        }
        _ => (encode_delete(&key), Vec::new(), true),
    };
    let read = read_plainbuffer(&encoded).unwrap_or_else(|e| panic!("unreadable PlainBuffer ({e}): {encoded:02x?}"));
    let expected_pk: Vec<ReadCell> = pk.iter().map(|(n, v)| (n.clone(), Some(v.clone()), None)).collect();
    assert_eq!(read.primary_key, expected_pk, "primary key read back");
    assert_eq!(read.data, expected_data, "attribute cells read back");
    assert_eq!(read.deleted, deleted, "delete marker");
}

/// A PlainBuffer value as read back (doubles by their bits, so NaN compares equal).
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Integer(i64),
    Double(u64),
    Boolean(bool),
    String(String),
    Binary(Vec<u8>),
    InfMin,
    InfMax,
    AutoIncrement,
}

impl Owned {
    fn borrow(&self) -> crate::sinks::tablestore::plainbuffer::Value<'_> {
        use crate::sinks::tablestore::plainbuffer::Value;
        match self {
            Owned::Integer(i) => Value::Integer(*i),
            Owned::Double(bits) => Value::Double(f64::from_bits(*bits)),
            Owned::Boolean(b) => Value::Boolean(*b),
            Owned::String(s) => Value::String(s),
            Owned::Binary(b) => Value::Binary(b),
            Owned::InfMin => Value::InfMin,
            Owned::InfMax => Value::InfMax,
            Owned::AutoIncrement => Value::AutoIncrement,
        }
    }
}

/// Fuzz input consumed from the front (zeros once it runs out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn text(&mut self) -> String {
        let n = usize::from(self.byte() % 24);
        String::from_utf8_lossy(&self.take(n)).into_owned()
    }

    fn value(&mut self) -> Owned {
        let kind = self.byte() % 8;
        let eight = |input: &mut Self| u64::from_le_bytes(input.take(8).try_into().unwrap_or([0xA5; 8]));
        match kind {
            0 => Owned::Integer(eight(self) as i64),
            1 => Owned::Double(eight(self)),
            2 => Owned::Boolean(self.byte() & 1 == 1),
            3 => Owned::String(self.text()),
            4 => {
                let n = usize::from(self.byte() % 40);
                Owned::Binary(self.take(n))
            }
            5 => Owned::InfMin,
            6 => Owned::InfMax,
            _ => Owned::AutoIncrement,
        }
    }
}

/// A cell as read back: name, value (none for a delete-all cell) and operation byte.
type ReadCell = (String, Option<Owned>, Option<u8>);

/// One row read back from PlainBuffer.
#[derive(Debug)]
struct ReadRow {
    primary_key: Vec<ReadCell>,
    data: Vec<ReadCell>,
    deleted: bool,
}

/// Reads one row of PlainBuffer, checking every tag, length and checksum as Tablestore's
/// format description states them (little-endian; a cell's checksum folds its name, then the
/// value's type byte and payload — with a 4-byte length for strings and blobs — then the
/// operation byte; the row's folds the cell checksums, then the delete flag).
fn read_plainbuffer(bytes: &[u8]) -> Result<ReadRow, String> {
    use crate::sinks::tablestore::plainbuffer::crc8;
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let slice = bytes.get(at..at + n).ok_or(format!("truncated at {at} (wanted {n} bytes)"))?;
        at += n;
        Ok(slice)
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
    if u32_at(take(4)?) != 0x75 {
        return Err("header is not 0x75".into());
    }
    let mut row = ReadRow { primary_key: Vec::new(), data: Vec::new(), deleted: false };
    let mut row_crc = 0u8;
    let mut section: Option<u8> = None;
    loop {
        let tag = take(1)?[0];
        if matches!(tag, 0x08 | 0x09) && section == Some(0x02) && row.data.is_empty() {
            return Err("ROW_DATA without a cell".into());
        }
        match tag {
            0x01 if section.is_none() => section = Some(0x01),
            0x02 if section == Some(0x01) => section = Some(0x02),
            0x03 if section.is_some() => {
                if take(1)?[0] != 0x04 {
                    return Err("a cell does not start with its name".into());
                }
                let name_len = u32_at(take(4)?);
                let name = std::str::from_utf8(take(name_len)?).map_err(|e| e.to_string())?.to_string();
                let mut crc = crc8(0, name.as_bytes());
                let mut next = take(1)?[0];
                let mut value = None;
                if next == 0x05 {
                    let length = u32_at(take(4)?);
                    let body = take(length)?;
                    let (&kind, payload) = body.split_first().ok_or("an empty cell value")?;
                    crc = crc8(crc, &[kind]);
                    let sized = |payload: &[u8]| -> Result<Vec<u8>, String> {
                        let (len, rest) = payload.split_at_checked(4).ok_or("a short length")?;
                        if u32_at(len) != rest.len() {
                            return Err("a string or blob length disagrees with its cell".into());
                        }
                        Ok(rest.to_vec())
                    };
                    crc = crc8(crc, payload);
                    let eight = |p: &[u8]| -> Result<u64, String> {
                        Ok(u64::from_le_bytes(p.try_into().map_err(|_| "not 8 bytes".to_string())?))
                    };
                    value = Some(match kind {
                        0x0 => Owned::Integer(eight(payload)? as i64),
                        0x1 => Owned::Double(eight(payload)?),
                        0x2 if payload.len() == 1 => Owned::Boolean(payload[0] != 0),
                        0x3 => Owned::String(String::from_utf8(sized(payload)?).map_err(|e| e.to_string())?),
                        0x7 => Owned::Binary(sized(payload)?),
                        0x9 if payload.is_empty() => Owned::InfMin,
                        0xA if payload.is_empty() => Owned::InfMax,
                        0xB if payload.is_empty() => Owned::AutoIncrement,
                        other => return Err(format!("value type {other:#x} with {} payload bytes", payload.len())),
                    });
                    next = take(1)?[0];
                }
                let mut op = None;
                if next == 0x06 {
                    let byte = take(1)?[0];
                    crc = crc8(crc, &[byte]);
                    op = Some(byte);
                    next = take(1)?[0];
                }
                if next != 0x0A {
                    return Err(format!("cell `{name}` ends with tag {next:#x}, not its checksum"));
                }
                if take(1)?[0] != crc {
                    return Err(format!("cell `{name}` has a wrong checksum"));
                }
                row_crc = crc8(row_crc, &[crc]);
                let cell = (name, value, op);
                if section == Some(0x01) {
                    row.primary_key.push(cell);
                } else {
                    row.data.push(cell);
                }
            }
            0x08 if !row.deleted => row.deleted = true,
            0x09 => {
                if take(1)?[0] != crc8(row_crc, &[u8::from(row.deleted)]) {
                    return Err("wrong row checksum".into());
                }
                if at != bytes.len() {
                    return Err(format!("{} bytes after the row checksum", bytes.len() - at));
                }
                return Ok(row);
            }
            other => return Err(format!("unexpected tag {other:#x} at {}", at - 1)),
        }
    }
}

/// Fuzz target `tdengine_line`: a point built from the input (any measurement, tags and
/// field names, fields of every contract type, any time, each precision) either encodes to
/// one line of line protocol or is refused with a reason; a line read back by an independent
/// reader (escapes, quoting and type suffixes as TDengine's schemaless line protocol states
/// them) gives the same measurement, the non-empty tags in order, every non-null field with
/// its value, and the time at that precision.
pub fn tdengine_line(data: &[u8]) {
    use crate::model::{ByteString, Column, Point, Value};
    use crate::sinks::tdengine::{point_line, ColumnTypes, Precision};
    let mut input = Bytes(data);
    let precision = [Precision::Ms, Precision::Us, Precision::Ns][usize::from(input.byte() % 3)];
    let measurement = input.text();
    let tags: Vec<(String, String)> = (0..input.byte() % 4).map(|_| (input.text(), input.text())).collect();
    // Field names are made unique: a repeated name takes the type its first value set
    // (`ColumnTypes`), which this property does not model.
    let fields: Vec<Column> = (0..input.byte() % 5)
        .map(|index| {
            let name = format!("{}{index}", input.text());
            let eight = |input: &mut Bytes<'_>| u64::from_le_bytes(input.take(8).try_into().unwrap_or([0x5A; 8]));
            let bits = eight(&mut input);
            let value = match bits % 15 {
                0 => Value::Null,
                1 => Value::Boolean(bits & 16 != 0),
                2 => Value::Int8((bits >> 8) as i8),
                3 => Value::Int16((bits >> 8) as i16),
                4 => Value::Int32((bits >> 8) as i32),
                5 => Value::Int64(eight(&mut input) as i64),
                6 => Value::Uint8((bits >> 8) as u8),
                7 => Value::Uint16((bits >> 8) as u16),
                8 => Value::Uint32((bits >> 8) as u32),
                9 => Value::Uint64(eight(&mut input)),
                10 => Value::Float32(f32::from_bits((bits >> 8) as u32)),
                11 => Value::Float64(f64::from_bits(eight(&mut input))),
                12 => Value::Text(input.text().into()),
                13 => {
                    let length = usize::from(input.byte() % 16);
                    Value::Binary(input.take(length).into())
                }
                _ => Value::TimestampUs(eight(&mut input) as i64),
            };
            Column { name: name.into(), value }
        })
        .collect();
    let time_us = i64::from_le_bytes(input.take(8).try_into().unwrap_or([0; 8]));
    let tags = tags.into_iter().map(|(k, v): (String, String)| (k.into(), v.into())).collect();
    let point =
        Point { table: None, measurement: measurement.into(), data_source: ByteString::new(), tags, time_us, fields };
    let piece = match point_line(&point, "db", precision, None, &ColumnTypes::default()) {
        Ok(piece) => piece,
        Err(reason) => {
            assert!(!reason.is_empty(), "a refusal names its reason");
            return;
        }
    };
    let line = String::from_utf8(piece.payload).expect("a line is UTF-8");
    let read = read_line(&line).unwrap_or_else(|e| panic!("unreadable line ({e}): {line:?}"));
    assert_eq!(read.measurement, *point.measurement, "{line:?}");
    let tags: Vec<(String, String)> =
        point.tags.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(read.tags, tags, "{line:?}");
    let fields: Vec<&Column> = point.fields.iter().filter(|c| !matches!(c.value, Value::Null)).collect();
    assert_eq!(read.fields.len(), fields.len(), "{line:?}");
    for ((name, value), column) in read.fields.iter().zip(fields) {
        assert_eq!(name.as_str(), &*column.name, "{line:?}");
        let expected = match &column.value {
            Value::Boolean(b) => b.to_string(),
            Value::Int8(v) => format!("{v}i8"),
            Value::Int16(v) => format!("{v}i16"),
            Value::Int32(v) => format!("{v}i32"),
            Value::Int64(v) => format!("{v}i64"),
            Value::TimestampUs(v) => format!("{v}i64"),
            Value::Uint8(v) => format!("{v}u8"),
            Value::Uint16(v) => format!("{v}u16"),
            Value::Uint32(v) => format!("{v}u32"),
            Value::Uint64(v) => format!("{v}u64"),
            Value::Float32(v) => {
                let back: f32 = value.strip_suffix("f32").and_then(|v| v.parse().ok()).expect("an f32 field");
                assert_eq!(back.to_bits(), v.to_bits(), "{line:?}");
                continue;
            }
            Value::Float64(v) => {
                let back: f64 = value.strip_suffix("f64").and_then(|v| v.parse().ok()).expect("an f64 field");
                assert_eq!(back.to_bits(), v.to_bits(), "{line:?}");
                continue;
            }
            Value::Text(text) => format!("L{text}"),
            Value::Binary(bytes) => std::str::from_utf8(bytes).expect("accepted binary is UTF-8").to_string(),
            Value::Null => unreachable!("filtered above"),
        };
        assert_eq!(value, &expected, "{line:?}");
    }
    assert_eq!(Some(read.time), precision.from_micros(point.time_us), "{line:?}");
}

/// One line of line protocol as read back; a string field's value is its unescaped text,
/// prefixed with `L` for NCHAR.
#[derive(Debug)]
struct ReadLine {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, String)>,
    time: i64,
}

/// Reads `measurement[,tag=value...] field=value[,field=value...] time`: outside quotes a
/// backslash makes the next character literal; a string field value is `"..."` (BINARY) or
/// `L"..."` (NCHAR) with `\"` and `\\` inside.
fn read_line(line: &str) -> Result<ReadLine, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut at = 0;
    // Reads up to an unescaped character of `stops`; returns the text and the stop met.
    let token = |at: &mut usize, stops: &[char]| -> (String, Option<char>) {
        let mut text = String::new();
        while let Some(&c) = chars.get(*at) {
            *at += 1;
            if c == '\\' {
                text.extend(chars.get(*at));
                *at += 1;
            } else if stops.contains(&c) {
                return (text, Some(c));
            } else {
                text.push(c);
            }
        }
        (text, None)
    };
    let (measurement, mut stop) = token(&mut at, &[',', ' ']);
    let mut tags = Vec::new();
    while stop == Some(',') {
        let (key, s) = token(&mut at, &['=']);
        if s != Some('=') {
            return Err(format!("tag `{key}` without `=`"));
        }
        let (value, s) = token(&mut at, &[',', ' ']);
        tags.push((key, value));
        stop = s;
    }
    if stop != Some(' ') {
        return Err("no field set".into());
    }
    let mut fields = Vec::new();
    loop {
        let (key, s) = token(&mut at, &['=']);
        if s != Some('=') {
            return Err(format!("field `{key}` without `=`"));
        }
        let nchar = chars.get(at) == Some(&'L') && chars.get(at + 1) == Some(&'"');
        let (value, s) = if nchar || chars.get(at) == Some(&'"') {
            at += if nchar { 2 } else { 1 };
            let mut text = String::from(if nchar { "L" } else { "" });
            loop {
                match chars.get(at) {
                    None => return Err(format!("field `{key}`: an unterminated string")),
                    Some('"') => break,
                    Some('\\') => {
                        text.extend(chars.get(at + 1));
                        at += 2;
                    }
                    Some(&c) => {
                        text.push(c);
                        at += 1;
                    }
                }
            }
            at += 1;
            let stop = chars.get(at).copied();
            at += 1;
            (text, stop)
        } else {
            token(&mut at, &[',', ' '])
        };
        fields.push((key, value));
        match s {
            Some(',') => continue,
            Some(' ') => break,
            _ => return Err("no time".into()),
        }
    }
    let (time, s) = token(&mut at, &[' ']);
    if s.is_some() {
        return Err("text after the time".into());
    }
    let time = time.parse().map_err(|_| format!("time `{time}` is not a whole number"))?;
    Ok(ReadLine { measurement, tags, fields, time })
}

/// Fuzz target `tunnel_records`: records built from the input for a schema built from it
/// (columns of every wire kind: integer, boolean, double, float, bytes, timestamp; any cell
/// NULL) encode to a MaxCompute Tunnel record stream that a reader written from the format
/// (pyodps's `TunnelRecordReader`: tags, zigzag varints, little-endian fixed values, a CRC-32C
/// per record over each field's number and value, the footer's count and CRC-32C of the record
/// CRCs) accepts and reads back to the same cells.
pub fn tunnel_records(data: &[u8]) {
    use crate::sinks::maxcompute::{Cell, RecordWriter};
    use std::borrow::Cow;
    let mut input = Bytes(data);
    let kinds: Vec<u8> = (0..1 + input.byte() % 6).map(|_| input.byte() % 6).collect();
    let eight = |input: &mut Bytes<'_>| u64::from_le_bytes(input.take(8).try_into().unwrap_or([0x3C; 8]));
    let records: Vec<Vec<Option<Cell<'static>>>> = (0..input.byte() % 5)
        .map(|_| {
            kinds
                .iter()
                .map(|kind| {
                    if input.byte() % 4 == 0 {
                        return None;
                    }
                    Some(match kind {
                        0 => Cell::Int(eight(&mut input) as i64),
                        1 => Cell::Bool(input.byte() & 1 == 1),
                        2 => Cell::Double(f64::from_bits(eight(&mut input))),
                        3 => Cell::Float(f32::from_bits(eight(&mut input) as u32)),
                        4 => {
                            let length = usize::from(input.byte() % 40);
                            Cell::Bytes(Cow::Owned(input.take(length)))
                        }
                        _ => Cell::Timestamp { seconds: eight(&mut input) as i64, nanos: eight(&mut input) as i32 },
                    })
                })
                .collect()
        })
        .collect();
    let mut writer = RecordWriter::new(Vec::new());
    for record in &records {
        for (index, cell) in record.iter().enumerate() {
            if let Some(cell) = cell {
                writer.field(index, cell);
            }
        }
        writer.end_record().expect("writing to memory");
    }
    let stream = writer.finish().expect("writing to memory");
    let read = read_tunnel_records(&stream, &kinds).unwrap_or_else(|e| panic!("unreadable stream ({e}): {stream:?}"));
    assert_eq!(read.len(), records.len(), "record count");
    for (got, want) in read.iter().zip(&records) {
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(want) {
            let same = match (got, want) {
                (Some(Cell::Double(a)), Some(Cell::Double(b))) => a.to_bits() == b.to_bits(),
                (Some(Cell::Float(a)), Some(Cell::Float(b))) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            };
            assert!(same, "read {got:?}, wrote {want:?}");
        }
    }
}

/// Reads a Tunnel record stream for columns of the given wire kinds (0 integer, 1 boolean,
/// 2 double, 3 float, 4 bytes, 5 timestamp), checking every record's CRC-32C and the footer.
fn read_tunnel_records(
    bytes: &[u8],
    kinds: &[u8],
) -> Result<Vec<Vec<Option<crate::sinks::maxcompute::Cell<'static>>>>, String> {
    use crate::sinks::maxcompute::Cell;
    const END_RECORD: u64 = 33_553_408;
    const META_COUNT: u64 = 33_554_430;
    const META_CHECKSUM: u64 = 33_554_431;
    let mut at = 0;
    let varint = |at: &mut usize| -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at).ok_or("a varint runs past the end")?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    };
    let unzigzag = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
    let fixed = |at: &mut usize, n: usize| -> Result<Vec<u8>, String> {
        let slice = bytes.get(*at..*at + n).ok_or("a fixed value runs past the end")?;
        *at += n;
        Ok(slice.to_vec())
    };
    let mut records = Vec::new();
    let mut record = vec![None; kinds.len()];
    let (mut crc, mut crc_of_crcs) = (0u32, 0u32);
    loop {
        let key = varint(&mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        if field >= END_RECORD && wire != 0 {
            return Err(format!("tag {field} with wire type {wire}, not a varint"));
        }
        match field {
            END_RECORD => {
                let stored = varint(&mut at)?;
                if stored != u64::from(crc) {
                    return Err(format!("record {}: CRC {stored:#x}, computed {crc:#x}", records.len()));
                }
                crc_of_crcs = crc32c::crc32c_append(crc_of_crcs, &crc.to_le_bytes());
                crc = 0;
                records.push(std::mem::replace(&mut record, vec![None; kinds.len()]));
            }
            META_COUNT => {
                let count = unzigzag(varint(&mut at)?);
                if count != records.len() as i64 {
                    return Err(format!("footer counts {count} records, read {}", records.len()));
                }
                if varint(&mut at)? != META_CHECKSUM << 3 {
                    return Err("the footer's checksum tag is missing".into());
                }
                if varint(&mut at)? != u64::from(crc_of_crcs) {
                    return Err("the footer's checksum is wrong".into());
                }
                if at != bytes.len() {
                    return Err("bytes after the footer".into());
                }
                return Ok(records);
            }
            field if field >= 1 && (field as usize) <= kinds.len() => {
                let index = field as usize - 1;
                crc = crc32c::crc32c_append(crc, &(field as i32).to_le_bytes());
                let (cell, wanted) = match kinds[index] {
                    0 => {
                        let v = unzigzag(varint(&mut at)?);
                        crc = crc32c::crc32c_append(crc, &v.to_le_bytes());
                        (Cell::Int(v), 0)
                    }
                    1 => {
                        let v = varint(&mut at)?;
                        if v > 1 {
                            return Err(format!("boolean {v}"));
                        }
                        crc = crc32c::crc32c_append(crc, &[v as u8]);
                        (Cell::Bool(v == 1), 0)
                    }
                    2 => {
                        let raw = fixed(&mut at, 8)?;
                        crc = crc32c::crc32c_append(crc, &raw);
                        (Cell::Double(f64::from_le_bytes(raw.try_into().unwrap())), 1)
                    }
                    3 => {
                        let raw = fixed(&mut at, 4)?;
                        crc = crc32c::crc32c_append(crc, &raw);
                        (Cell::Float(f32::from_le_bytes(raw.try_into().unwrap())), 5)
                    }
                    4 => {
                        let length = varint(&mut at)? as usize;
                        let raw = fixed(&mut at, length)?;
                        crc = crc32c::crc32c_append(crc, &raw);
                        (Cell::Bytes(raw.into()), 2)
                    }
                    _ => {
                        let seconds = unzigzag(varint(&mut at)?);
                        let nanos = unzigzag(varint(&mut at)?) as i32;
                        crc = crc32c::crc32c_append(crc, &seconds.to_le_bytes());
                        crc = crc32c::crc32c_append(crc, &nanos.to_le_bytes());
                        (Cell::Timestamp { seconds, nanos }, 2)
                    }
                };
                if wire != wanted {
                    return Err(format!("field {field}: wire type {wire}, the column needs {wanted}"));
                }
                if record[index].replace(cell).is_some() {
                    return Err(format!("field {field} twice in one record"));
                }
            }
            other => return Err(format!("unknown field {other}")),
        }
    }
}

/// Fuzz target `compact_outputs`: the reading of a plugin's outputs in the compact encoding
/// (`parse-compact`, wit/README.md). Any bytes, for any record count, either read or are
/// refused at a position inside the buffer, never a panic; and results of every shape built
/// from the input, written with an encoder made from the specification (here, not the SDK's),
/// read back to the same results, while every shorter prefix of that buffer is refused.
pub fn compact_outputs(data: &[u8]) {
    use crate::plugin::decode_compact;
    let mut input = Bytes(data);
    let records = usize::from(input.byte() % 8);
    let raw = bytes::Bytes::copy_from_slice(input.0);
    match decode_compact(raw.clone(), records) {
        Ok(results) => assert_eq!(results.len(), records),
        Err(error) => assert!(error.at <= raw.len(), "{error} is past the end of {} bytes", raw.len()),
    }

    let results: Vec<crate::plugin::RecordResult> = (0..records).map(|_| compact_result(&mut input)).collect();
    let mut encoded = Vec::new();
    for result in &results {
        write_compact_result(&mut encoded, result);
    }
    let encoded = bytes::Bytes::from(encoded);
    let read = decode_compact(encoded.clone(), records).unwrap_or_else(|e| panic!("{e}: {encoded:?}"));
    assert_eq!(read, results);
    for cut in [encoded.len().saturating_sub(1), encoded.len() / 2] {
        if cut < encoded.len() && records > 0 {
            assert!(decode_compact(encoded.slice(..cut), records).is_err(), "a buffer cut at {cut} is refused");
        }
    }
}

fn compact_result(input: &mut Bytes<'_>) -> crate::plugin::RecordResult {
    use crate::model::{Column, Output, PluginError, Point, Raw, Row, Value, WriteKind};
    let text = |input: &mut Bytes<'_>| crate::model::ByteString::from(input.text());
    let eight = |input: &mut Bytes<'_>| u64::from_le_bytes(input.take(8).try_into().unwrap_or([0x5A; 8]));
    let columns = |input: &mut Bytes<'_>| -> Vec<Column> {
        (0..input.byte() % 4)
            .map(|_| {
                let name = text(input);
                let bits = eight(input);
                let value = match input.byte() % 15 {
                    0 => Value::Null,
                    1 => Value::Boolean(bits & 1 == 1),
                    2 => Value::Int8(bits as i8),
                    3 => Value::Int16(bits as i16),
                    4 => Value::Int32(bits as i32),
                    5 => Value::Int64(bits as i64),
                    6 => Value::Uint8(bits as u8),
                    7 => Value::Uint16(bits as u16),
                    8 => Value::Uint32(bits as u32),
                    9 => Value::Uint64(bits),
                    // Compared by value below: NaN payloads would not compare equal.
                    10 => Value::Float32(f32::from_bits(bits as u32 & 0x3fff_ffff)),
                    11 => Value::Float64(f64::from_bits(bits & 0x3fff_ffff_ffff_ffff)),
                    12 => Value::Text(text(input)),
                    13 => {
                        let length = usize::from(input.byte() % 16);
                        Value::Binary(input.take(length).into())
                    }
                    _ => Value::TimestampUs(bits as i64),
                };
                Column { name, value }
            })
            .collect()
    };
    if input.byte().is_multiple_of(5) {
        let field = (input.byte() & 1 == 1).then(|| input.text());
        return Err(PluginError { code: input.text(), message: input.text(), field });
    }
    Ok((0..input.byte() % 3)
        .map(|_| match input.byte() % 3 {
            0 => {
                let table = (input.byte() & 1 == 1).then(|| text(input));
                let kind = [WriteKind::Put, WriteKind::Update, WriteKind::Delete][usize::from(input.byte() % 3)];
                let primary_key = columns(input);
                let columns = columns(input);
                let deleted_columns = (0..input.byte() % 3).map(|_| text(input)).collect();
                Output::Row(Row { table, kind, primary_key, columns, deleted_columns })
            }
            1 => {
                let table = (input.byte() & 1 == 1).then(|| text(input));
                let (measurement, data_source) = (text(input), text(input));
                let tags = (0..input.byte() % 3).map(|_| (text(input), text(input))).collect();
                let time_us = eight(input) as i64;
                Output::Point(Point { table, measurement, data_source, tags, time_us, fields: columns(input) })
            }
            _ => {
                let format = text(input);
                let length = usize::from(input.byte() % 32);
                Output::Raw(Raw { format, data: input.take(length).into() })
            }
        })
        .collect())
}

/// The compact encoding of one result, written from wit/README.md's grammar.
fn write_compact_result(out: &mut Vec<u8>, result: &crate::plugin::RecordResult) {
    use crate::model::{Column, Output, Value, WriteKind};
    fn uvar(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn svar(out: &mut Vec<u8>, v: i64) {
        uvar(out, ((v << 1) ^ (v >> 63)) as u64);
    }
    fn bytes(out: &mut Vec<u8>, data: &[u8]) {
        uvar(out, data.len() as u64);
        out.extend_from_slice(data);
    }
    fn opt(out: &mut Vec<u8>, text: Option<&str>) {
        match text {
            None => out.push(0),
            Some(text) => {
                out.push(1);
                bytes(out, text.as_bytes());
            }
        }
    }
    fn columns(out: &mut Vec<u8>, columns: &[Column]) {
        uvar(out, columns.len() as u64);
        for column in columns {
            bytes(out, column.name.as_bytes());
            match &column.value {
                Value::Null => out.push(0),
                Value::Boolean(v) => out.extend([1, u8::from(*v)]),
                Value::Int8(v) => out.extend([2, *v as u8]),
                Value::Int16(v) => (out.push(3), svar(out, i64::from(*v))).1,
                Value::Int32(v) => (out.push(4), svar(out, i64::from(*v))).1,
                Value::Int64(v) => (out.push(5), svar(out, *v)).1,
                Value::Uint8(v) => out.extend([6, *v]),
                Value::Uint16(v) => (out.push(7), uvar(out, u64::from(*v))).1,
                Value::Uint32(v) => (out.push(8), uvar(out, u64::from(*v))).1,
                Value::Uint64(v) => (out.push(9), uvar(out, *v)).1,
                Value::Float32(v) => (out.push(10), out.extend(v.to_le_bytes())).1,
                Value::Float64(v) => (out.push(11), out.extend(v.to_le_bytes())).1,
                Value::Text(v) => (out.push(12), bytes(out, v.as_bytes())).1,
                Value::Binary(v) => (out.push(13), bytes(out, v)).1,
                Value::TimestampUs(v) => (out.push(14), svar(out, *v)).1,
            }
        }
    }
    match result {
        Err(error) => {
            out.push(1);
            bytes(out, error.code.as_bytes());
            bytes(out, error.message.as_bytes());
            opt(out, error.field.as_deref());
        }
        Ok(outputs) => {
            out.push(0);
            uvar(out, outputs.len() as u64);
            for output in outputs {
                match output {
                    Output::Row(row) => {
                        out.push(0);
                        opt(out, row.table.as_deref());
                        out.push(match row.kind {
                            WriteKind::Put => 0,
                            WriteKind::Update => 1,
                            WriteKind::Delete => 2,
                        });
                        columns(out, &row.primary_key);
                        columns(out, &row.columns);
                        uvar(out, row.deleted_columns.len() as u64);
                        for name in &row.deleted_columns {
                            bytes(out, name.as_bytes());
                        }
                    }
                    Output::Point(point) => {
                        out.push(1);
                        opt(out, point.table.as_deref());
                        bytes(out, point.measurement.as_bytes());
                        bytes(out, point.data_source.as_bytes());
                        uvar(out, point.tags.len() as u64);
                        for (name, value) in &point.tags {
                            bytes(out, name.as_bytes());
                            bytes(out, value.as_bytes());
                        }
                        svar(out, point.time_us);
                        columns(out, &point.fields);
                    }
                    Output::Raw(raw) => {
                        out.push(2);
                        bytes(out, raw.format.as_bytes());
                        bytes(out, &raw.data);
                    }
                }
            }
        }
    }
}

/// Fuzz target `timeseries_rows`: time-series rows built from the input (any measurement,
/// data source, tags and fields of every type, any time) encode to a FlatBuffer that a reader
/// written from the schema (`tablestore.flatbuffer.timeseries`: vtables, offsets and vectors
/// read with bounds checks, not with the `flatbuffers` crate the encoder uses) accepts and
/// reads back to the same rows, fields in the typed arrays their types name.
pub fn timeseries_rows(data: &[u8]) {
    use crate::sinks::tablestore::flatbuf::{encode, FieldValue, TimeseriesRow};
    let mut input = Bytes(data);
    let rows: Vec<TimeseriesRow> = (0..input.byte() % 4)
        .map(|_| {
            let measurement = input.text();
            let data_source = input.text();
            let mut tags: Vec<(String, String)> = (0..input.byte() % 4).map(|_| (input.text(), input.text())).collect();
            tags.sort();
            tags.dedup_by(|a, b| a.0 == b.0);
            let time_us = i64::from_le_bytes(input.take(8).try_into().unwrap_or([7; 8]));
            let mut fields: Vec<(String, FieldValue)> = (0..input.byte() % 6)
                .map(|_| {
                    let name = input.text();
                    let bits = u64::from_le_bytes(input.take(8).try_into().unwrap_or([3; 8]));
                    let value = match input.byte() % 5 {
                        0 => FieldValue::Long(bits as i64),
                        1 => FieldValue::Bool(bits & 1 == 1),
                        2 => FieldValue::Double(f64::from_bits(bits)),
                        3 => FieldValue::Text(input.text().into()),
                        _ => {
                            let length = usize::from(input.byte() % 24);
                            FieldValue::Binary(input.take(length).into())
                        }
                    };
                    (name, value)
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|a, b| a.0 == b.0);
            let tags = tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
            let fields = fields.into_iter().map(|(k, v)| (k.into(), v)).collect();
            TimeseriesRow { measurement: measurement.into(), data_source: data_source.into(), tags, time_us, fields }
        })
        .collect();
    let buffer = encode(rows.iter());
    let read = read_timeseries_rows(&buffer).unwrap_or_else(|e| panic!("unreadable rows ({e}): {buffer:?}"));
    assert_eq!(read.len(), rows.len(), "row count");
    for (got, want) in read.iter().zip(&rows) {
        assert_eq!(
            (&got.measurement, &got.data_source, &got.tags, got.time_us),
            (&want.measurement, &want.data_source, &want.tags, want.time_us)
        );
        assert_eq!(got.fields.len(), want.fields.len(), "{:?}", want.fields);
        for ((got_name, got_value), (name, value)) in got.fields.iter().zip(&want.fields) {
            assert_eq!(got_name, name);
            let same = match (got_value, value) {
                (FieldValue::Double(a), FieldValue::Double(b)) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            };
            assert!(same, "field {name}: read {got_value:?}, wrote {value:?}");
        }
    }
}

/// A FlatBuffer table: its position and its vtable's field offsets.
struct FbTable<'a> {
    buf: &'a [u8],
    at: usize,
    fields: Vec<u16>,
}

fn fb_u32(buf: &[u8], at: usize) -> Result<u32, String> {
    let bytes = buf.get(at..at + 4).ok_or_else(|| format!("4 bytes at {at} past the end"))?;
    Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
}

fn fb_u16(buf: &[u8], at: usize) -> Result<u16, String> {
    let bytes = buf.get(at..at + 2).ok_or_else(|| format!("2 bytes at {at} past the end"))?;
    Ok(u16::from_le_bytes(bytes.try_into().expect("2 bytes")))
}

/// The position an offset stored at `at` points to (offsets are relative to where they sit).
fn fb_follow(buf: &[u8], at: usize) -> Result<usize, String> {
    let target = at.checked_add(fb_u32(buf, at)? as usize).filter(|t| *t < buf.len());
    target.ok_or_else(|| format!("the offset at {at} points past the end"))
}

impl<'a> FbTable<'a> {
    fn at(buf: &'a [u8], at: usize) -> Result<Self, String> {
        let back = fb_u32(buf, at)? as i32;
        let vtable = (at as i64 - i64::from(back)) as usize;
        let (vtable_len, table_len) = (fb_u16(buf, vtable)?, fb_u16(buf, vtable + 2)?);
        if vtable_len < 4 || vtable_len % 2 != 0 || at + usize::from(table_len) > buf.len() {
            return Err(format!("the table at {at} has a bad vtable ({vtable_len}, {table_len})"));
        }
        let fields =
            (0..usize::from(vtable_len - 4) / 2).map(|i| fb_u16(buf, vtable + 4 + 2 * i)).collect::<Result<_, _>>()?;
        Ok(FbTable { buf, at, fields })
    }

    /// Where field `id` is stored, when present.
    fn field(&self, id: usize) -> Option<usize> {
        self.fields.get(id).filter(|o| **o != 0).map(|o| self.at + usize::from(*o))
    }

    fn table(&self, id: usize) -> Result<FbTable<'a>, String> {
        let at = self.field(id).ok_or_else(|| format!("table field {id} missing"))?;
        FbTable::at(self.buf, fb_follow(self.buf, at)?)
    }

    /// The elements' positions and the element count of vector field `id` (empty when absent).
    fn vector(&self, id: usize, element: usize) -> Result<(usize, usize), String> {
        let Some(at) = self.field(id) else { return Ok((0, 0)) };
        let start = fb_follow(self.buf, at)?;
        let count = fb_u32(self.buf, start)? as usize;
        let end = (start + 4).checked_add(count.checked_mul(element).ok_or("vector too long")?);
        end.filter(|e| *e <= self.buf.len()).ok_or_else(|| format!("vector field {id} runs past the end"))?;
        Ok((start + 4, count))
    }

    fn string(&self, id: usize) -> Result<String, String> {
        let at = self.field(id).ok_or_else(|| format!("string field {id} missing"))?;
        fb_string(self.buf, fb_follow(self.buf, at)?)
    }

    fn tables(&self, id: usize) -> Result<Vec<FbTable<'a>>, String> {
        let (start, count) = self.vector(id, 4)?;
        (0..count).map(|i| FbTable::at(self.buf, fb_follow(self.buf, start + 4 * i)?)).collect()
    }

    fn strings(&self, id: usize) -> Result<Vec<String>, String> {
        let (start, count) = self.vector(id, 4)?;
        (0..count).map(|i| fb_string(self.buf, fb_follow(self.buf, start + 4 * i)?)).collect()
    }

    fn scalars<const N: usize>(&self, id: usize) -> Result<Vec<[u8; N]>, String> {
        let (start, count) = self.vector(id, N)?;
        Ok((0..count).map(|i| self.buf[start + N * i..start + N * (i + 1)].try_into().expect("N bytes")).collect())
    }
}

fn fb_string(buf: &[u8], at: usize) -> Result<String, String> {
    let len = fb_u32(buf, at)? as usize;
    let bytes = buf.get(at + 4..at + 4 + len).ok_or_else(|| format!("the string at {at} runs past the end"))?;
    if buf.get(at + 4 + len) != Some(&0) {
        return Err(format!("the string at {at} is not NUL-terminated"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("the string at {at} is not UTF-8"))
}

/// Reads `FlatBufferRows`: per row group the measurement, field names and types, one row
/// with its data source, time, tag list and the typed value arrays the types index into.
fn read_timeseries_rows(buf: &[u8]) -> Result<Vec<crate::sinks::tablestore::flatbuf::TimeseriesRow>, String> {
    use crate::sinks::tablestore::flatbuf::{FieldValue, TimeseriesRow};
    let root = FbTable::at(buf, fb_u32(buf, 0)? as usize)?;
    let mut rows = Vec::new();
    for group in root.tables(0)? {
        let measurement = group.string(0)?;
        let names = group.strings(1)?;
        let types: Vec<u8> = group.scalars::<1>(2)?.into_iter().map(|[t]| t).collect();
        if names.len() != types.len() {
            return Err(format!("{} field names for {} types", names.len(), types.len()));
        }
        let [row] =
            <[FbTable<'_>; 1]>::try_from(group.tables(3)?).map_err(|r| format!("{} rows in a group", r.len()))?;
        let data_source = row.string(0)?;
        if !row.string(1)?.is_empty() {
            return Err("the `tags` text is not empty".into());
        }
        let time_us = match row.field(2) {
            None => 0,
            Some(at) => i64::from_le_bytes(buf.get(at..at + 8).ok_or("time past the end")?.try_into().expect("8")),
        };
        let tags =
            row.tables(5)?.iter().map(|t| Ok((t.string(0)?, t.string(1)?))).collect::<Result<Vec<_>, String>>()?;
        let values = row.table(3)?;
        let mut longs = values.scalars::<8>(0)?.into_iter().map(i64::from_le_bytes);
        let mut bools = values.scalars::<1>(1)?.into_iter().map(|[b]| b != 0);
        let mut doubles = values.scalars::<8>(2)?.into_iter().map(f64::from_le_bytes);
        let mut texts = values.strings(3)?.into_iter();
        let mut binaries = values.tables(4)?.into_iter();
        let mut fields = Vec::new();
        for (name, kind) in names.into_iter().zip(types) {
            let missing = || format!("no value left for field `{name}` of type {kind}");
            let value = match kind {
                1 => FieldValue::Long(longs.next().ok_or_else(missing)?),
                2 => FieldValue::Bool(bools.next().ok_or_else(missing)?),
                3 => FieldValue::Double(doubles.next().ok_or_else(missing)?),
                4 => FieldValue::Text(texts.next().ok_or_else(missing)?.into()),
                5 => {
                    let bytes = binaries.next().ok_or_else(missing)?;
                    FieldValue::Binary(bytes.scalars::<1>(0)?.into_iter().map(|[b]| b).collect())
                }
                other => return Err(format!("unknown field type {other}")),
            };
            fields.push((name, value));
        }
        if longs.next().is_some()
            || bools.next().is_some()
            || doubles.next().is_some()
            || texts.next().is_some()
            || binaries.next().is_some()
        {
            return Err("values left over after the last field".into());
        }
        let tags = tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let fields = fields.into_iter().map(|(k, v)| (crate::model::ByteString::from(k), v)).collect();
        rows.push(TimeseriesRow {
            measurement: measurement.into(),
            data_source: data_source.into(),
            tags,
            time_us,
            fields,
        });
    }
    Ok(rows)
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
    fn plainbuffer_smoke() {
        // Seeds: an empty put; a put of one of each value type; an update with deletes; a delete.
        const SEEDS: &[&[u8]] = &[
            &[0, 0, 0, 0],
            &[
                0, 2, 2, b'i', b'd', 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, b'k', 3, 3, b'a', b'b', b'c', 3, 1, b'b', 4, 3, 9,
                9, 9,
            ],
            &[1, 1, 1, b'k', 7, 2, 1, b'n', 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 2, 1, b'x', 0],
            &[2, 1, 0, 5],
        ];
        for seed in SEEDS {
            super::plainbuffer(seed);
        }
        let mut rng = fastrand::Rng::with_seed(31);
        for _ in 0..20_000 {
            let mut data = vec![0u8; rng.usize(0..120)];
            rng.fill(&mut data);
            super::plainbuffer(&data);
        }
    }

    #[test]
    fn the_plainbuffer_reader_refuses_a_flipped_byte() {
        use crate::sinks::tablestore::plainbuffer::{encode_put, Value};
        let encoded = encode_put(&[("id", Value::Integer(7))], &[("name", Value::String("x"))]);
        assert!(super::read_plainbuffer(&encoded).is_ok());
        for index in 4..encoded.len() {
            let mut broken = encoded.clone();
            broken[index] ^= 0x01;
            assert!(super::read_plainbuffer(&broken).is_err(), "a flip at byte {index} went unnoticed");
        }
    }

    #[test]
    fn the_tunnel_reader_refuses_a_flipped_byte() {
        use crate::sinks::maxcompute::{Cell, RecordWriter};
        let mut writer = RecordWriter::new(Vec::new());
        writer.field(0, &Cell::Bytes(b"topic".as_slice().into()));
        writer.field(1, &Cell::Int(-3));
        writer.end_record().unwrap();
        let encoded = writer.finish().unwrap();
        assert!(super::read_tunnel_records(&encoded, &[4, 0]).is_ok());
        for index in 0..encoded.len() {
            let mut broken = encoded.clone();
            broken[index] ^= 0x01;
            let read = super::read_tunnel_records(&broken, &[4, 0]);
            assert!(read.is_err(), "a flip at byte {index} went unnoticed: {read:?}");
        }
    }

    #[test]
    fn tunnel_records_smoke() {
        // Seeds: one record of each kind; NULLs only; extremes (i64::MIN, NaN, -0.0, long bytes).
        const SEEDS: &[&[u8]] = &[
            &[
                5, 0, 1, 2, 3, 4, 5, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 0, 0,
                0x80, 0x3f,
            ],
            &[2, 4, 5, 3, 0, 0, 0, 0, 0, 0],
            &[2, 0, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
        ];
        for seed in SEEDS {
            super::tunnel_records(seed);
        }
        let mut rng = fastrand::Rng::with_seed(37);
        for _ in 0..20_000 {
            let mut data = vec![0u8; rng.usize(0..160)];
            rng.fill(&mut data);
            super::tunnel_records(&data);
        }
    }

    #[test]
    fn tdengine_line_smoke() {
        // Seeds: a plain point; names full of line protocol's special characters; every type.
        const SEEDS: &[&[u8]] = &[
            &[
                0, 3, b'c', b'p', b'u', 1, 1, b'h', 1, b'a', 1, 2, b'v', b'1', 4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5,
                6, 7, 8,
            ],
            &[
                1, 4, b'm', b',', b' ', b'\\', 1, 3, b'k', b'=', b'"', 2, b'v', b' ', 1, 3, b'f', b'"', b'\\', 12, 0,
                0, 0, 0, 0, 0, 0, 2, b'"', b'x',
            ],
            &[
                2, 1, b'm', 0, 4, 1, b'a', 10, 0, 0, 0, 0, 0, 0, 0, 1, b'b', 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0xf0, 0x3f,
            ],
        ];
        for seed in SEEDS {
            super::tdengine_line(seed);
        }
        let mut rng = fastrand::Rng::with_seed(37);
        const ALPHABET: &[u8] = b"ab ,=\\\"L\n0";
        for _ in 0..20_000 {
            let mut data: Vec<u8> = vec![0u8; rng.usize(0..120)];
            rng.fill(&mut data);
            // Half the inputs draw text bytes from line protocol's special characters.
            if rng.bool() {
                for byte in data.iter_mut().skip(1).step_by(2) {
                    *byte = ALPHABET[rng.usize(..ALPHABET.len())];
                }
            }
            super::tdengine_line(&data);
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

    #[test]
    fn compact_outputs_smoke() {
        let mut rng = fastrand::Rng::with_seed(29);
        for _ in 0..20_000 {
            let mut bytes = vec![0u8; rng.usize(0..160)];
            rng.fill(&mut bytes);
            super::compact_outputs(&bytes);
        }
    }

    #[test]
    fn timeseries_rows_smoke() {
        let mut rng = fastrand::Rng::with_seed(31);
        for _ in 0..5_000 {
            let mut bytes = vec![0u8; rng.usize(0..256)];
            rng.fill(&mut bytes);
            super::timeseries_rows(&bytes);
        }
    }

    #[test]
    fn the_flatbuffer_reader_reads_the_official_sdks_golden_rows() {
        let golden: &[u8] = include_bytes!("../../tests/standins/tablestore/golden/timeseries_rows.bin");
        let rows = super::read_timeseries_rows(golden).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((&*rows[0].measurement, rows[0].fields.len(), rows[1].fields.len()), ("cpu_usage", 5, 1));
    }
}
