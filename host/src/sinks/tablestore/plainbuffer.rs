//! PlainBuffer, Tablestore's row format inside protobuf `bytes` fields: little-endian,
//! a `0x75` header, tagged cells, and CRC-8 (polynomial 0x07) checksums per cell and row.
//!
//! The encoder is what the sink sends (no cell timestamps: the server assigns them);
//! [`decode`] reads a row change back, checksums checked, so `sluice explain` shows the
//! bytes that would be sent rather than what they were made from.

use std::ops::Range;

/// Buffer header (int32, little-endian).
const HEADER: u32 = 0x75;
const TAG_ROW_PK: u8 = 0x01;
const TAG_ROW_DATA: u8 = 0x02;
const TAG_CELL: u8 = 0x03;
const TAG_CELL_NAME: u8 = 0x04;
const TAG_CELL_VALUE: u8 = 0x05;
const TAG_CELL_TYPE: u8 = 0x06;
const TAG_DELETE_ROW_MARKER: u8 = 0x08;
const TAG_ROW_CHECKSUM: u8 = 0x09;
const TAG_CELL_CHECKSUM: u8 = 0x0A;

const VT_INTEGER: u8 = 0x0;
const VT_DOUBLE: u8 = 0x1;
const VT_BOOLEAN: u8 = 0x2;
const VT_STRING: u8 = 0x3;
const VT_BLOB: u8 = 0x7;
const VT_INF_MIN: u8 = 0x9;
const VT_INF_MAX: u8 = 0xA;
const VT_AUTO_INCREMENT: u8 = 0xB;

/// Cell operation: delete every version of the column (UpdateRow).
const OP_DELETE_ALL_VERSIONS: u8 = 0x01;

/// A value in a PlainBuffer cell (primary key or attribute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// INTEGER (int64).
    Integer(i64),
    /// DOUBLE.
    Double(f64),
    /// BOOLEAN.
    Boolean(bool),
    /// STRING (UTF-8).
    String(&'a str),
    /// BINARY.
    Binary(&'a [u8]),
    /// The smallest primary key value (range reads).
    InfMin,
    /// The largest primary key value (range reads).
    InfMax,
    /// Placeholder for an auto-increment primary key column, filled in by the server.
    AutoIncrement,
}

impl Value<'_> {
    /// Encoded payload length (without the type byte).
    fn payload_len(&self) -> usize {
        match self {
            Value::Integer(_) | Value::Double(_) => 8,
            Value::Boolean(_) => 1,
            Value::String(s) => 4 + s.len(),
            Value::Binary(b) => 4 + b.len(),
            Value::InfMin | Value::InfMax | Value::AutoIncrement => 0,
        }
    }

    /// Approximate size the service counts for this value (for the 4 MB request limit).
    pub fn data_size(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::Binary(b) => b.len(),
            Value::Boolean(_) => 1,
            _ => 8,
        }
    }
}

/// An attribute cell of an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update<'a> {
    /// Set the column.
    Put(&'a str, Value<'a>),
    /// Delete all versions of the column.
    DeleteAll(&'a str),
}

/// CRC-8/SMBUS lookup table (polynomial 0x07, no reflection, init 0).
const CRC8_TABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Folds `bytes` into `crc`.
pub fn crc8(mut crc: u8, bytes: &[u8]) -> u8 {
    for &b in bytes {
        crc = CRC8_TABLE[(crc ^ b) as usize];
    }
    crc
}

fn crc8_value(crc: u8, value: &Value<'_>) -> u8 {
    match *value {
        Value::Integer(i) => crc8(crc8(crc, &[VT_INTEGER]), &i.to_le_bytes()),
        Value::Double(d) => crc8(crc8(crc, &[VT_DOUBLE]), &d.to_bits().to_le_bytes()),
        Value::Boolean(b) => crc8(crc, &[VT_BOOLEAN, u8::from(b)]),
        Value::String(s) => crc8(crc8(crc8(crc, &[VT_STRING]), &(s.len() as u32).to_le_bytes()), s.as_bytes()),
        Value::Binary(b) => crc8(crc8(crc8(crc, &[VT_BLOB]), &(b.len() as u32).to_le_bytes()), b),
        Value::InfMin => crc8(crc, &[VT_INF_MIN]),
        Value::InfMax => crc8(crc, &[VT_INF_MAX]),
        Value::AutoIncrement => crc8(crc, &[VT_AUTO_INCREMENT]),
    }
}

/// Writes rows into one buffer (the header first).
pub struct Encoder<'b> {
    out: &'b mut Vec<u8>,
    row_crc: u8,
}

impl<'b> Encoder<'b> {
    /// Starts a buffer in `out` (appending the header).
    pub fn new(out: &'b mut Vec<u8>) -> Self {
        out.extend_from_slice(&HEADER.to_le_bytes());
        Self { out, row_crc: 0 }
    }

    fn cell(&mut self, name: &str, value: Option<&Value<'_>>, op: Option<u8>) {
        let out = &mut *self.out;
        out.push(TAG_CELL);
        out.push(TAG_CELL_NAME);
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let mut crc = crc8(0, name.as_bytes());
        if let Some(value) = value {
            out.push(TAG_CELL_VALUE);
            out.extend_from_slice(&((1 + value.payload_len()) as u32).to_le_bytes());
            match *value {
                Value::Integer(i) => {
                    out.push(VT_INTEGER);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Value::Double(d) => {
                    out.push(VT_DOUBLE);
                    out.extend_from_slice(&d.to_bits().to_le_bytes());
                }
                Value::Boolean(b) => out.extend_from_slice(&[VT_BOOLEAN, u8::from(b)]),
                Value::String(s) => {
                    out.push(VT_STRING);
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                Value::Binary(b) => {
                    out.push(VT_BLOB);
                    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    out.extend_from_slice(b);
                }
                Value::InfMin => out.push(VT_INF_MIN),
                Value::InfMax => out.push(VT_INF_MAX),
                Value::AutoIncrement => out.push(VT_AUTO_INCREMENT),
            }
            crc = crc8_value(crc, value);
        }
        if let Some(op) = op {
            out.push(TAG_CELL_TYPE);
            out.push(op);
            crc = crc8(crc, &[op]);
        }
        out.push(TAG_CELL_CHECKSUM);
        out.push(crc);
        self.row_crc = crc8(self.row_crc, &[crc]);
    }

    fn primary_key(&mut self, pk: &[(&str, Value<'_>)]) -> Range<usize> {
        self.row_crc = 0;
        self.out.push(TAG_ROW_PK);
        let at = self.out.len();
        for (name, value) in pk {
            self.cell(name, Some(value), None);
        }
        at..self.out.len()
    }

    fn finish_row(&mut self, deleted: bool) {
        if deleted {
            self.out.push(TAG_DELETE_ROW_MARKER);
        }
        let crc = crc8(self.row_crc, &[u8::from(deleted)]);
        self.out.extend_from_slice(&[TAG_ROW_CHECKSUM, crc]);
    }

    /// A PutRow change: the primary key, then the attribute columns. Returns where the
    /// primary key's cells are in the buffer.
    pub fn put<'v>(
        &mut self,
        pk: &[(&str, Value<'_>)],
        columns: impl IntoIterator<Item = (&'v str, Value<'v>)>,
    ) -> Range<usize> {
        let key = self.primary_key(pk);
        let data_at = self.out.len();
        self.out.push(TAG_ROW_DATA);
        let mut any = false;
        for (name, value) in columns {
            self.cell(name, Some(&value), None);
            any = true;
        }
        if !any {
            self.out.truncate(data_at);
        }
        self.finish_row(false);
        key
    }

    /// An UpdateRow change: columns to set and columns to delete (all versions). Returns
    /// where the primary key's cells are in the buffer.
    pub fn update(&mut self, pk: &[(&str, Value<'_>)], cells: &[Update<'_>]) -> Range<usize> {
        let key = self.primary_key(pk);
        if !cells.is_empty() {
            self.out.push(TAG_ROW_DATA);
            for cell in cells {
                match cell {
                    Update::Put(name, value) => self.cell(name, Some(value), None),
                    Update::DeleteAll(name) => self.cell(name, None, Some(OP_DELETE_ALL_VERSIONS)),
                }
            }
        }
        self.finish_row(false);
        key
    }

    /// A DeleteRow change: the primary key and the delete marker. Returns where the primary
    /// key's cells are in the buffer.
    pub fn delete(&mut self, pk: &[(&str, Value<'_>)]) -> Range<usize> {
        let key = self.primary_key(pk);
        self.finish_row(true);
        key
    }

    /// A bare primary key (GetRow and range bounds).
    pub fn key(&mut self, pk: &[(&str, Value<'_>)]) {
        self.primary_key(pk);
        self.finish_row(false);
    }

    /// Bytes `value` takes in a cell, beyond its name: for sizing buffers.
    pub fn cell_size(name: &str, value: &Value<'_>) -> usize {
        // Tag, name tag, name length, value tag, value length, checksum tag and checksum.
        12 + name.len() + 1 + value.payload_len()
    }
}

/// One encoded PutRow change.
pub fn encode_put(pk: &[(&str, Value<'_>)], columns: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Encoder::new(&mut out).put(pk, columns.iter().copied());
    out
}

/// One encoded UpdateRow change.
pub fn encode_update(pk: &[(&str, Value<'_>)], cells: &[Update<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Encoder::new(&mut out).update(pk, cells);
    out
}

/// One encoded DeleteRow change.
pub fn encode_delete(pk: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Encoder::new(&mut out).delete(pk);
    out
}

/// One encoded primary key.
pub fn encode_key(pk: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Encoder::new(&mut out).key(pk);
    out
}

/// A row change read back by [`decode`]: cells as `name=value` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedRow {
    /// Primary key cells, in order.
    pub primary_key: Vec<String>,
    /// Attribute cells set.
    pub columns: Vec<String>,
    /// Attribute columns deleted (every version).
    pub deleted_columns: Vec<String>,
    /// Whether the row carries the delete marker.
    pub delete_marker: bool,
}

impl std::fmt::Display for DecodedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "primary key ({})", self.primary_key.join(", "))?;
        if !self.columns.is_empty() {
            write!(f, " columns ({})", self.columns.join(", "))?;
        }
        if !self.deleted_columns.is_empty() {
            write!(f, " delete columns ({})", self.deleted_columns.join(", "))?;
        }
        if self.delete_marker {
            f.write_str(" delete row")?;
        }
        Ok(())
    }
}

/// Reads PlainBuffer bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("PlainBuffer ends at byte {} where {n} more bytes were expected", self.bytes.len())
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn expect(&mut self, tag: u8, what: &str) -> Result<(), String> {
        let at = self.at;
        match self.byte()? {
            found if found == tag => Ok(()),
            found => Err(format!("PlainBuffer byte {at}: expected {what} (0x{tag:02x}), found 0x{found:02x}")),
        }
    }

    /// One cell: `(name=value text or None for a delete, cell checksum)`.
    fn cell(&mut self) -> Result<(String, Option<String>, u8), String> {
        self.expect(TAG_CELL, "a cell")?;
        self.expect(TAG_CELL_NAME, "a cell name")?;
        let length = self.u32()? as usize;
        let name = self.take(length)?;
        let mut crc = crc8(0, name);
        let name = String::from_utf8_lossy(name).into_owned();
        let mut shown = None;
        if self.peek() == Some(TAG_CELL_VALUE) {
            self.at += 1;
            let _length = self.u32()?;
            let kind = self.byte()?;
            let (text, value_crc) = match kind {
                VT_INTEGER => {
                    let v = self.u64()? as i64;
                    (v.to_string(), crc8_value(crc, &Value::Integer(v)))
                }
                VT_DOUBLE => {
                    let v = f64::from_bits(self.u64()?);
                    (format!("{v:?}"), crc8_value(crc, &Value::Double(v)))
                }
                VT_BOOLEAN => {
                    let v = self.byte()? != 0;
                    (v.to_string(), crc8_value(crc, &Value::Boolean(v)))
                }
                VT_STRING | VT_BLOB => {
                    let length = self.u32()? as usize;
                    let data = self.take(length)?;
                    if kind == VT_STRING {
                        let text = String::from_utf8_lossy(data);
                        (format!("{text:?}"), crc8_value(crc, &Value::String(&text)))
                    } else {
                        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                        (format!("0x{hex}"), crc8_value(crc, &Value::Binary(data)))
                    }
                }
                VT_INF_MIN => ("INF_MIN".into(), crc8_value(crc, &Value::InfMin)),
                VT_INF_MAX => ("INF_MAX".into(), crc8_value(crc, &Value::InfMax)),
                VT_AUTO_INCREMENT => ("AUTO_INCREMENT".into(), crc8_value(crc, &Value::AutoIncrement)),
                other => return Err(format!("cell `{name}`: unknown PlainBuffer value type 0x{other:02x}")),
            };
            crc = value_crc;
            shown = Some(text);
        }
        if self.peek() == Some(TAG_CELL_TYPE) {
            self.at += 1;
            let op = self.byte()?;
            crc = crc8(crc, &[op]);
        }
        self.expect(TAG_CELL_CHECKSUM, "a cell checksum")?;
        let sent = self.byte()?;
        if sent != crc {
            return Err(format!("cell `{name}`: checksum 0x{sent:02x} but the cell hashes to 0x{crc:02x}"));
        }
        Ok((name, shown, crc))
    }
}

/// Reads one encoded row change back (header, primary key, attribute cells, delete marker),
/// checking every cell checksum and the row checksum.
pub fn decode(bytes: &[u8]) -> Result<DecodedRow, String> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.u32()? != HEADER {
        return Err("not PlainBuffer: the header is not 0x75".into());
    }
    reader.expect(TAG_ROW_PK, "the primary key")?;
    let mut row = DecodedRow::default();
    let mut row_crc = 0u8;
    while reader.peek() == Some(TAG_CELL) {
        let (name, value, crc) = reader.cell()?;
        row_crc = crc8(row_crc, &[crc]);
        row.primary_key.push(format!("{name}={}", value.unwrap_or_default()));
    }
    if reader.peek() == Some(TAG_ROW_DATA) {
        reader.at += 1;
        while reader.peek() == Some(TAG_CELL) {
            let (name, value, crc) = reader.cell()?;
            row_crc = crc8(row_crc, &[crc]);
            match value {
                Some(value) => row.columns.push(format!("{name}={value}")),
                None => row.deleted_columns.push(name),
            }
        }
    }
    if reader.peek() == Some(TAG_DELETE_ROW_MARKER) {
        reader.at += 1;
        row.delete_marker = true;
    }
    reader.expect(TAG_ROW_CHECKSUM, "the row checksum")?;
    let sent = reader.byte()?;
    let crc = crc8(row_crc, &[u8::from(row.delete_marker)]);
    if sent != crc {
        return Err(format!("row checksum 0x{sent:02x} but the row hashes to 0x{crc:02x}"));
    }
    if reader.at != bytes.len() {
        return Err(format!("{} bytes follow the row checksum", bytes.len() - reader.at));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const PK: [(&str, Value<'static>); 2] = [("topic_partition", Value::String("t_0")), ("offset", Value::Integer(5))];
    const PK_HEX: &str = "750000000103040f000000746f7069635f706172746974696f6e05080000000303000000745f300a990304060000006f666673657405090000000005000000000000000a07";

    #[test]
    fn crc8_check_value() {
        assert_eq!(crc8(0, b"123456789"), 0xF4);
    }

    #[test]
    fn golden_put() {
        let columns = [
            ("a", Value::String("x")),
            ("b", Value::Double(1.5)),
            ("c", Value::Boolean(true)),
            ("d", Value::Integer(7)),
        ];
        assert_eq!(
            hex(&encode_put(&PK, &columns)),
            "750000000103040f000000746f7069635f706172746974696f6e05080000000303000000745f300a990304060000006f666673657405090000000005000000000000000a07020304010000006105060000000301000000780a4d03040100000062050900000001000000000000f83f0acd03040100000063050200000002010a550304010000006405090000000007000000000000000abb09e7"
        );
    }

    #[test]
    fn golden_update() {
        let cells = [Update::Put("a", Value::String("y")), Update::DeleteAll("b")];
        assert_eq!(
            hex(&encode_update(&PK, &cells)),
            format!("{PK_HEX}020304010000006105060000000301000000790a4a0304010000006206010ad809af")
        );
    }

    #[test]
    fn golden_delete_and_key() {
        assert_eq!(hex(&encode_delete(&PK)), format!("{PK_HEX}0809ff"));
        assert_eq!(hex(&encode_key(&PK)), format!("{PK_HEX}09f8"));
    }

    #[test]
    fn rows_decode_back_with_checksums_checked() {
        let columns = [("a", Value::String("x")), ("b", Value::Double(1.5)), ("c", Value::Boolean(true))];
        let row = decode(&encode_put(&PK, &columns)).unwrap();
        assert_eq!(row.to_string(), r#"primary key (topic_partition="t_0", offset=5) columns (a="x", b=1.5, c=true)"#);
        let cells = [Update::Put("a", Value::Binary(&[1, 2])), Update::DeleteAll("b")];
        let row = decode(&encode_update(&PK, &cells)).unwrap();
        assert_eq!((row.columns, row.deleted_columns), (vec!["a=0x0102".to_string()], vec!["b".to_string()]));
        assert!(decode(&encode_delete(&PK)).unwrap().delete_marker);
        let mut bytes = encode_put(&PK, &columns);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode(&bytes).unwrap_err().contains("row checksum"));
    }
}
