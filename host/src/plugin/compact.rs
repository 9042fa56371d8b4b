//! Reading the compact encoding of `parse-compact` (contract 0.2.0, specified in
//! wit/README.md) into the host's model. Everything a plugin writes is checked: a buffer that
//! does not follow the encoding is a contract violation naming the byte where reading failed.

use super::bindings::RecordResult;
use crate::model::{ByteString, Bytes, Column, Output, PluginError, Point, Raw, Row, Value, WriteKind};

/// Why a compact buffer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where reading failed.
    pub at: usize,
    /// What was wrong there.
    pub what: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the compact output is invalid at byte {}: {}", self.at, self.what)
    }
}

/// Reads exactly `records` results from `buffer`. Names, text and bytes in the outputs are
/// slices of `buffer`, not copies.
pub fn decode(buffer: Bytes, records: usize) -> Result<Vec<RecordResult>, DecodeError> {
    let mut reader = Reader { buffer: &buffer, at: 0 };
    let mut results = Vec::with_capacity(records);
    for _ in 0..records {
        results.push(reader.result()?);
    }
    if reader.at != buffer.len() {
        return Err(
            reader.error(format!("{} bytes follow the last of the {records} results", buffer.len() - reader.at))
        );
    }
    Ok(results)
}

struct Reader<'a> {
    buffer: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn error(&self, what: impl Into<String>) -> DecodeError {
        DecodeError { at: self.at, what: what.into() }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.buffer.get(self.at).ok_or_else(|| self.error("the buffer ends early"))?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize) -> Result<std::ops::Range<usize>, DecodeError> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.buffer.len());
        let end = end.ok_or_else(|| self.error(format!("a length of {len} runs past the end")))?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let range = self.take(N)?;
        Ok(self.buffer[range].try_into().expect("N bytes"))
    }

    fn uvar(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error("a varint overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("a varint is longer than 10 bytes"))
    }

    fn svar(&mut self) -> Result<i64, DecodeError> {
        let raw = self.uvar()?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }

    /// A count of items, each at least one byte long: bounded by what is left, so a hostile
    /// count cannot make the host reserve memory the buffer does not back.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let count = self.uvar()?;
        let left = (self.buffer.len() - self.at) as u64;
        if count > left {
            return Err(self.error(format!("a count of {count} exceeds the {left} bytes left")));
        }
        Ok(count as usize)
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = self.uvar()?;
        usize::try_from(len).map_err(|_| self.error(format!("a length of {len} is too large")))
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.len()?;
        let range = self.take(len)?;
        Ok(self.buffer.slice(range))
    }

    fn str(&mut self) -> Result<ByteString, DecodeError> {
        let len = self.len()?;
        let range = self.take(len)?;
        match std::str::from_utf8(&self.buffer[range.clone()]) {
            // SAFETY: the bytes were just checked to be UTF-8.
            Ok(_) => Ok(unsafe { ByteString::from_bytes_unchecked(self.buffer.slice(range)) }),
            Err(error) => Err(DecodeError {
                at: range.start + error.valid_up_to(),
                what: "a string is not valid UTF-8".to_string(),
            }),
        }
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        Ok(self.str()?.to_string())
    }

    fn opt_str(&mut self) -> Result<Option<ByteString>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            tag => Err(self.error(format!("option tag {tag} (expected 0 or 1)"))),
        }
    }

    fn result(&mut self) -> Result<RecordResult, DecodeError> {
        match self.byte()? {
            0 => {
                let count = self.count()?;
                let mut outputs = Vec::with_capacity(count);
                for _ in 0..count {
                    outputs.push(self.output()?);
                }
                Ok(Ok(outputs))
            }
            1 => Ok(Err(PluginError {
                code: self.string()?,
                message: self.string()?,
                field: self.opt_str()?.map(|f| f.to_string()),
            })),
            tag => Err(self.error(format!("result tag {tag} (expected 0 or 1)"))),
        }
    }

    fn output(&mut self) -> Result<Output, DecodeError> {
        match self.byte()? {
            0 => {
                let table = self.opt_str()?;
                let kind = match self.byte()? {
                    0 => WriteKind::Put,
                    1 => WriteKind::Update,
                    2 => WriteKind::Delete,
                    tag => return Err(self.error(format!("write-kind tag {tag} (expected 0 to 2)"))),
                };
                let primary_key = self.columns()?;
                let columns = self.columns()?;
                let count = self.count()?;
                let mut deleted_columns = Vec::with_capacity(count);
                for _ in 0..count {
                    deleted_columns.push(self.str()?);
                }
                Ok(Output::Row(Row { table, kind, primary_key, columns, deleted_columns }))
            }
            1 => {
                let table = self.opt_str()?;
                let measurement = self.str()?;
                let data_source = self.str()?;
                let count = self.count()?;
                let mut tags = Vec::with_capacity(count);
                for _ in 0..count {
                    tags.push((self.str()?, self.str()?));
                }
                let time_us = self.svar()?;
                let fields = self.columns()?;
                Ok(Output::Point(Point { table, measurement, data_source, tags, time_us, fields }))
            }
            2 => Ok(Output::Raw(Raw { format: self.str()?, data: self.bytes()? })),
            tag => Err(self.error(format!("output tag {tag} (expected 0 to 2)"))),
        }
    }

    fn columns(&mut self) -> Result<Vec<Column>, DecodeError> {
        let count = self.count()?;
        let mut columns = Vec::with_capacity(count);
        for _ in 0..count {
            columns.push(Column { name: self.str()?, value: self.value()? });
        }
        Ok(columns)
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let tag = self.byte()?;
        let narrow = |reader: &Self, value: i64, kind: &str| {
            reader.error(format!("{value} does not fit the {kind} it is tagged as"))
        };
        Ok(match tag {
            0x00 => Value::Null,
            0x01 => match self.byte()? {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => return Err(self.error(format!("boolean byte {other} (expected 0 or 1)"))),
            },
            0x02 => Value::Int8(self.byte()? as i8),
            0x03 => {
                let v = self.svar()?;
                Value::Int16(i16::try_from(v).map_err(|_| narrow(self, v, "int16"))?)
            }
            0x04 => {
                let v = self.svar()?;
                Value::Int32(i32::try_from(v).map_err(|_| narrow(self, v, "int32"))?)
            }
            0x05 => Value::Int64(self.svar()?),
            0x06 => Value::Uint8(self.byte()?),
            0x07 => {
                let v = self.uvar()?;
                Value::Uint16(u16::try_from(v).map_err(|_| self.error(format!("{v} does not fit uint16")))?)
            }
            0x08 => {
                let v = self.uvar()?;
                Value::Uint32(u32::try_from(v).map_err(|_| self.error(format!("{v} does not fit uint32")))?)
            }
            0x09 => Value::Uint64(self.uvar()?),
            0x0a => Value::Float32(f32::from_le_bytes(self.fixed()?)),
            0x0b => Value::Float64(f64::from_le_bytes(self.fixed()?)),
            0x0c => Value::Text(self.str()?),
            0x0d => Value::Binary(self.bytes()?),
            0x0e => Value::TimestampUs(self.svar()?),
            tag => return Err(self.error(format!("value tag {tag} (expected 0 to 14)"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer written by hand from the encoding in wit/README.md (not by the SDK's encoder,
    /// so the two sides are checked against the text, not against each other).
    fn sample() -> Vec<u8> {
        let mut b = vec![0x00, 0x02]; // Ok, two outputs
        b.extend([0x00, 0x01, 0x01, b't', 0x01]); // row, table "t", update
        b.extend([0x01, 0x02, b'i', b'd', 0x05, 0x03]); // pk: id = int64 -2 (zigzag 3)
        b.extend([0x02, 0x01, b'a', 0x0c, 0x02, 0xc3, 0xa9]); // columns: a = text "é"
        b.extend([0x01, b'b', 0x0b]); // b = float64 1.5
        b.extend(1.5f64.to_le_bytes());
        b.extend([0x01, 0x01, b'x']); // deleted: "x"
        b.extend([0x02, 0x04, b'l', b'i', b'n', b'e', 0x02, b'm', b' ']); // raw line "m "
        b.extend([0x01, 0x03, b'b', b'a', b'd', 0x02, b'n', b'o', 0x01, 0x01, b'f']); // Err(bad, no, f)
        b.extend([0x00, 0x01, 0x01, 0x00, 0x03, b'c', b'p', b'u', 0x00, 0x01, 0x01, b'h', 0x01, b'1']);
        b.extend([0x80, 0x01, 0x01, 0x01, b'v', 0x07, 0xff, 0xff, 0x03]); // time 64, v = uint16 65535
        b
    }

    #[test]
    fn a_buffer_written_from_the_specification_reads_back() {
        let results = decode(sample().into(), 3).unwrap();
        assert_eq!(
            results[0],
            Ok(vec![
                Output::Row(Row {
                    table: Some("t".into()),
                    kind: WriteKind::Update,
                    primary_key: vec![Column { name: "id".into(), value: Value::Int64(-2) }],
                    columns: vec![
                        Column { name: "a".into(), value: Value::Text("é".into()) },
                        Column { name: "b".into(), value: Value::Float64(1.5) },
                    ],
                    deleted_columns: vec!["x".into()],
                }),
                Output::Raw(Raw { format: "line".into(), data: Bytes::from_static(b"m ") }),
            ])
        );
        assert_eq!(results[1], Err(PluginError { code: "bad".into(), message: "no".into(), field: Some("f".into()) }));
        assert_eq!(
            results[2],
            Ok(vec![Output::Point(Point {
                table: None,
                measurement: "cpu".into(),
                data_source: ByteString::new(),
                tags: vec![("h".into(), "1".into())],
                time_us: 64,
                fields: vec![Column { name: "v".into(), value: Value::Uint16(65535) }],
            })])
        );
    }

    #[test]
    fn every_malformed_buffer_is_refused_with_its_position() {
        let good = sample();
        let good = Bytes::from(good);
        assert!(decode(good.clone(), 2).unwrap_err().what.contains("follow the last"));
        assert!(decode(good.clone(), 4).unwrap_err().what.contains("ends early"));
        for cut in 0..good.len() {
            assert!(decode(good.slice(..cut), 3).is_err(), "a buffer cut at {cut} is refused");
        }
        let cases: [(&[u8], &str); 7] = [
            (&[0x02], "result tag 2"),
            (&[0x00, 0x01, 0x03], "output tag 3"),
            (&[0x00, 0x01, 0x02, 0x01, 0xff, 0x00], "not valid UTF-8"),
            (&[0x00, 0xff, 0xff, 0xff, 0x0f], "exceeds"),
            (&[0x00, 0x01, 0x00, 0x00, 0x07], "write-kind tag 7"),
            (&[0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, b'a', 0x03, 0x80, 0x80, 0x04], "int16"),
            (&[0x00, 0x01, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "overflows"),
        ];
        for (buffer, expected) in cases {
            let error = decode(Bytes::copy_from_slice(buffer), 1).unwrap_err();
            assert!(error.to_string().contains(expected), "{buffer:?}: {error}");
        }
    }
}
