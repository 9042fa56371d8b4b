//! The Tunnel record stream: the protobuf-style encoding of records inside one uploaded
//! block. Field number = column index + 1 in the session's schema, NULL = the field is
//! left out, integers are zigzag varints, every record ends with its CRC-32C, and the
//! stream ends with a footer (zigzag record count, CRC-32C over the record CRCs).

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
}
