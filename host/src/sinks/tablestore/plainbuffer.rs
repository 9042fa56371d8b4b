//! PlainBuffer, Tablestore's row format inside protobuf `bytes` fields: little-endian,
//! a `0x75` header, tagged cells, and CRC-8 (polynomial 0x07) checksums per cell and row.
//!
//! Only the encoder lives here: sluice writes rows and never reads them back, and it sends
//! no cell timestamps (the server assigns them).

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
}
