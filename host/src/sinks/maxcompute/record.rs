//! The Tunnel record stream: the protobuf-style encoding of records inside one uploaded
//! block. Field number = column index + 1 in the session's schema, NULL = the field is
//! left out, integers are zigzag varints, every record ends with its CRC-32C, and the
//! stream ends with a footer (zigzag record count, CRC-32C over the record CRCs).
//! [`decode`] reads a stream back (checksums checked), so `sluice explain` shows the records
//! from the bytes that would be uploaded.

use std::io::{self, Write};

/// Tag field number ending a record.
const END_RECORD: u32 = 33_553_408;
/// Tag field number of the footer's record count.
const META_COUNT: u32 = 33_554_430;
/// Tag field number of the footer's checksum.
const META_CHECKSUM: u32 = 33_554_431;

const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LENGTH: u32 = 2;
const WIRE_FIXED32: u32 = 5;

/// A cell converted to its column's wire form.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// BIGINT/INT/SMALLINT/TINYINT, DATETIME (epoch ms), DATE (epoch days).
    Int(i64),
    /// BOOLEAN.
    Bool(bool),
    /// DOUBLE.
    Double(f64),
    /// FLOAT.
    Float(f32),
    /// STRING/VARCHAR/CHAR/BINARY/DECIMAL/JSON: length-delimited bytes.
    Bytes(std::borrow::Cow<'a, [u8]>),
    /// TIMESTAMP: seconds and nanoseconds.
    Timestamp {
        /// Seconds since the epoch.
        seconds: i64,
        /// Nanoseconds within the second.
        nanos: i32,
    },
}

/// Bytes of finished records gathered before they go to the writer.
const WRITE_CHUNK: usize = 32 * 1024;

/// Writes records and the footer of one record stream into `W`.
pub struct RecordWriter<W: Write> {
    out: W,
    /// Finished records not yet written out, then the current record's fields.
    record: Vec<u8>,
    crc: u32,
    crc_of_crcs: u32,
    count: u64,
    raw_bytes: u64,
    /// Bytes already handed to `out`.
    raw_bytes_written: u64,
}

impl<W: Write> RecordWriter<W> {
    /// A writer for one complete stream (one block).
    pub fn new(out: W) -> Self {
        Self {
            out,
            record: Vec::with_capacity(WRITE_CHUNK + 1024),
            crc: 0,
            crc_of_crcs: 0,
            count: 0,
            raw_bytes: 0,
            raw_bytes_written: 0,
        }
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Uncompressed bytes written so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Adds a field of the current record: `index` is the 0-based column index.
    pub fn field(&mut self, index: usize, cell: &Cell<'_>) {
        let field = index as u32 + 1;
        self.crc = crc32c::crc32c_append(self.crc, &(field as i32).to_le_bytes());
        match cell {
            Cell::Int(v) => {
                tag(&mut self.record, field, WIRE_VARINT);
                varint(&mut self.record, zigzag(*v));
                self.crc = crc32c::crc32c_append(self.crc, &v.to_le_bytes());
            }
            Cell::Bool(v) => {
                tag(&mut self.record, field, WIRE_VARINT);
                self.record.push(u8::from(*v));
                self.crc = crc32c::crc32c_append(self.crc, &[u8::from(*v)]);
            }
            Cell::Double(v) => {
                tag(&mut self.record, field, WIRE_FIXED64);
                self.record.extend_from_slice(&v.to_le_bytes());
                self.crc = crc32c::crc32c_append(self.crc, &v.to_le_bytes());
            }
            Cell::Float(v) => {
                tag(&mut self.record, field, WIRE_FIXED32);
                self.record.extend_from_slice(&v.to_le_bytes());
                self.crc = crc32c::crc32c_append(self.crc, &v.to_le_bytes());
            }
            Cell::Bytes(bytes) => {
                tag(&mut self.record, field, WIRE_LENGTH);
                varint(&mut self.record, bytes.len() as u64);
                self.record.extend_from_slice(bytes);
                self.crc = crc32c::crc32c_append(self.crc, bytes);
            }
            Cell::Timestamp { seconds, nanos } => {
                // No outer length: seconds and nanos follow the tag directly.
                tag(&mut self.record, field, WIRE_LENGTH);
                varint(&mut self.record, zigzag(*seconds));
                varint(&mut self.record, u64::from(((*nanos << 1) ^ (*nanos >> 31)) as u32));
                self.crc = crc32c::crc32c_append(self.crc, &seconds.to_le_bytes());
                self.crc = crc32c::crc32c_append(self.crc, &nanos.to_le_bytes());
            }
        }
    }

    /// Ends the current record (its CRC) and writes it out.
    pub fn end_record(&mut self) -> io::Result<()> {
        tag(&mut self.record, END_RECORD, WIRE_VARINT);
        varint(&mut self.record, u64::from(self.crc));
        self.crc_of_crcs = crc32c::crc32c_append(self.crc_of_crcs, &self.crc.to_le_bytes());
        self.crc = 0;
        self.count += 1;
        self.raw_bytes = self.raw_bytes_written + self.record.len() as u64;
        // Records go to the writer (a compressor) in chunks, not one call each: a call costs
        // the compressor a pass over its output buffer.
        if self.record.len() >= WRITE_CHUNK {
            self.flush_records()?;
        }
        Ok(())
    }

    fn flush_records(&mut self) -> io::Result<()> {
        self.out.write_all(&self.record)?;
        self.raw_bytes_written += self.record.len() as u64;
        self.record.clear();
        Ok(())
    }

    /// Writes the footer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_records()?;
        let mut footer = Vec::with_capacity(20);
        tag(&mut footer, META_COUNT, WIRE_VARINT);
        varint(&mut footer, zigzag(self.count as i64));
        tag(&mut footer, META_CHECKSUM, WIRE_VARINT);
        varint(&mut footer, u64::from(self.crc_of_crcs));
        self.raw_bytes += footer.len() as u64;
        self.out.write_all(&footer)?;
        Ok(self.out)
    }
}

/// How a column's values are laid out on the wire (what [`decode`] needs to know, since
/// integers and booleans share a wire type, as do bytes and timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// [`Cell::Int`].
    Int,
    /// [`Cell::Bool`].
    Bool,
    /// [`Cell::Double`].
    Double,
    /// [`Cell::Float`].
    Float,
    /// [`Cell::Bytes`].
    Bytes,
    /// [`Cell::Timestamp`].
    Timestamp,
}

/// One record read back by [`decode`]: the fields present (0-based column index, the value
/// as text: numbers as such, bytes as a quoted string when UTF-8 else `0x…`, timestamps as
/// `seconds.nanos`).
pub type DecodedRecord = Vec<(usize, String)>;

/// Reads an uncompressed record stream back, with `kinds[i]` the layout of column `i`,
/// checking every record's CRC-32C, the record count and the footer checksum.
pub fn decode(bytes: &[u8], kinds: &[FieldKind]) -> Result<Vec<DecodedRecord>, String> {
    let mut at = 0usize;
    let read_varint = |at: &mut usize| -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at).ok_or("the record stream ends inside a varint")?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    };
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= bytes.len()).ok_or("the record stream ends inside a field")?;
        let out = &bytes[*at..end];
        *at = end;
        Ok(out)
    };
    let unzigzag = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
    let (mut records, mut current, mut crc, mut crcs) = (Vec::new(), Vec::new(), 0u32, 0u32);
    loop {
        if at >= bytes.len() {
            return Err("the record stream ends without its footer".into());
        }
        let key = read_varint(&mut at)?;
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u32);
        match field {
            END_RECORD => {
                let sent = read_varint(&mut at)? as u32;
                if sent != crc {
                    return Err(format!(
                        "record {}: CRC 0x{sent:08x} but the record hashes to 0x{crc:08x}",
                        records.len()
                    ));
                }
                crcs = crc32c::crc32c_append(crcs, &crc.to_le_bytes());
                crc = 0;
                records.push(std::mem::take(&mut current));
            }
            META_COUNT => {
                let count = unzigzag(read_varint(&mut at)?);
                if count != records.len() as i64 {
                    return Err(format!("the footer counts {count} records, the stream has {}", records.len()));
                }
            }
            META_CHECKSUM => {
                let sent = read_varint(&mut at)? as u32;
                if sent != crcs {
                    return Err(format!("footer checksum 0x{sent:08x} but the records hash to 0x{crcs:08x}"));
                }
                if at != bytes.len() {
                    return Err(format!("{} bytes follow the footer", bytes.len() - at));
                }
                return Ok(records);
            }
            field if field >= 1 && field as usize <= kinds.len() => {
                let index = field as usize - 1;
                let kind = kinds[index];
                let expected = match kind {
                    FieldKind::Int | FieldKind::Bool => WIRE_VARINT,
                    FieldKind::Double => WIRE_FIXED64,
                    FieldKind::Float => WIRE_FIXED32,
                    FieldKind::Bytes | FieldKind::Timestamp => WIRE_LENGTH,
                };
                if wire != expected {
                    return Err(format!("column {index}: wire type {wire} where {kind:?} has {expected}"));
                }
                crc = crc32c::crc32c_append(crc, &(field as i32).to_le_bytes());
                let text = match kind {
                    FieldKind::Int => {
                        let v = unzigzag(read_varint(&mut at)?);
                        crc = crc32c::crc32c_append(crc, &v.to_le_bytes());
                        v.to_string()
                    }
                    FieldKind::Bool => {
                        let v = read_varint(&mut at)? != 0;
                        crc = crc32c::crc32c_append(crc, &[u8::from(v)]);
                        v.to_string()
                    }
                    FieldKind::Double => {
                        let raw = take(&mut at, 8)?;
                        crc = crc32c::crc32c_append(crc, raw);
                        format!("{:?}", f64::from_le_bytes(raw.try_into().expect("8 bytes")))
                    }
                    FieldKind::Float => {
                        let raw = take(&mut at, 4)?;
                        crc = crc32c::crc32c_append(crc, raw);
                        format!("{:?}", f32::from_le_bytes(raw.try_into().expect("4 bytes")))
                    }
                    FieldKind::Bytes => {
                        let length = read_varint(&mut at)? as usize;
                        let data = take(&mut at, length)?;
                        crc = crc32c::crc32c_append(crc, data);
                        match std::str::from_utf8(data) {
                            Ok(text) => format!("{text:?}"),
                            Err(_) => format!("0x{}", data.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                        }
                    }
                    FieldKind::Timestamp => {
                        let seconds = unzigzag(read_varint(&mut at)?);
                        let n = read_varint(&mut at)? as u32;
                        let nanos = ((n >> 1) as i32) ^ -((n & 1) as i32);
                        crc = crc32c::crc32c_append(crc, &seconds.to_le_bytes());
                        crc = crc32c::crc32c_append(crc, &nanos.to_le_bytes());
                        format!("{seconds}.{nanos:09}")
                    }
                };
                current.push((index, text));
            }
            other => return Err(format!("field {other} is no column of the table ({} columns)", kinds.len())),
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn text(s: &str) -> Cell<'_> {
        Cell::Bytes(Cow::Borrowed(s.as_bytes()))
    }

    #[test]
    fn golden_vector_from_the_reference() {
        let mut writer = RecordWriter::new(Vec::new());
        for (i, cell) in [text("t1"), Cell::Int(0), Cell::Int(0), text("1"), text("1")].iter().enumerate() {
            writer.field(i, cell);
        }
        writer.end_record().unwrap();
        let bytes = writer.finish().unwrap();
        let expected: &[u8] = &[
            0x0a, 0x02, 0x74, 0x31, 0x10, 0x00, 0x18, 0x00, 0x22, 0x01, 0x31, 0x2a, 0x01, 0x31, //
            0x80, 0xc0, 0xff, 0x7f, 0x97, 0xdf, 0xaa, 0xa7, 0x04, //
            0xf0, 0xff, 0xff, 0x7f, 0x02, 0xf8, 0xff, 0xff, 0x7f, 0xfe, 0xf7, 0xbb, 0xdc, 0x08,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn null_is_an_absent_field_and_integers_are_zigzag() {
        let mut writer = RecordWriter::new(Vec::new());
        writer.field(2, &Cell::Int(-1));
        writer.end_record().unwrap();
        let bytes = writer.finish().unwrap();
        assert_eq!(&bytes[..2], &[0x18, 0x01], "field 3, zigzag(-1) = 1");
        assert_eq!(&bytes[2..6], &[0x80, 0xc0, 0xff, 0x7f]);
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn empty_stream_is_just_the_footer() {
        let bytes = RecordWriter::new(Vec::new()).finish().unwrap();
        assert_eq!(bytes, [0xf0, 0xff, 0xff, 0x7f, 0x00, 0xf8, 0xff, 0xff, 0x7f, 0x00]);
    }

    #[test]
    fn streams_decode_back_with_their_checksums() {
        let kinds = [FieldKind::Bytes, FieldKind::Int, FieldKind::Bool, FieldKind::Double, FieldKind::Timestamp];
        let mut writer = RecordWriter::new(Vec::new());
        writer.field(0, &text("t1"));
        writer.field(1, &Cell::Int(-7));
        writer.field(3, &Cell::Double(1.5));
        writer.end_record().unwrap();
        writer.field(2, &Cell::Bool(true));
        writer.field(4, &Cell::Timestamp { seconds: 1_700_000_000, nanos: 5 });
        writer.end_record().unwrap();
        let bytes = writer.finish().unwrap();
        let records = decode(&bytes, &kinds).unwrap();
        let t = |i: usize, s: &str| (i, s.to_string());
        assert_eq!(
            records,
            vec![vec![t(0, "\"t1\""), t(1, "-7"), t(3, "1.5")], vec![t(2, "true"), t(4, "1700000000.000000005")]]
        );
        let mut broken = bytes.clone();
        broken[3] ^= 1;
        assert!(decode(&broken, &kinds).is_err());
    }
}
