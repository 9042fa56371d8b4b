//! Writing parse results in the contract's compact encoding (`parse-compact`, contract
//! 0.2.0; the format is specified in wit/README.md). The host reads the whole batch from one
//! buffer instead of lifting every name and value out of the sandbox one by one.

use crate::{Column, Output, RecordResult, Value, WriteKind};

/// Appends one record's result to `buffer`.
pub fn write_result(buffer: &mut Vec<u8>, result: &RecordResult) {
    match result {
        Ok(outputs) => {
            buffer.push(0x00);
            uvar(buffer, outputs.len() as u64);
            for output in outputs {
                write_output(buffer, output);
            }
        }
        Err(error) => {
            buffer.push(0x01);
            str(buffer, &error.code);
            str(buffer, &error.message);
            opt_str(buffer, error.field.as_deref());
        }
    }
}

/// The encoding of a whole batch's results.
pub fn encode(results: &[RecordResult]) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(results.len() * 64);
    for result in results {
        write_result(&mut buffer, result);
    }
    buffer
}

/// Writes one record's result holding a single row straight into the buffer, name by name
/// and value by value, without building an [`Output`] first: for parsers that stream their
/// input (see the JSON parser). Calls go: [`RowWriter::begin`], the primary key's columns
/// ([`RowWriter::name`] then one value each), [`RowWriter::columns`], the row's columns the
/// same way, [`RowWriter::finish`]. A writer dropped before `finish` removes everything it
/// wrote, so a parser can give up half-way and encode the record another way.
#[derive(Debug)]
pub struct RowWriter<'a> {
    buffer: &'a mut Vec<u8>,
    /// Where this record's result starts.
    start: usize,
    /// Where the open list's count goes (one byte reserved; widened at close if needed).
    count_at: usize,
    /// Columns in the open list.
    count: u64,
    /// Whether the primary key's list is closed.
    in_columns: bool,
    finished: bool,
}

impl<'a> RowWriter<'a> {
    /// Starts a result of one row for `table` (`None`: the connector's default) written as
    /// `kind`; the primary key's columns come next.
    pub fn begin(buffer: &'a mut Vec<u8>, table: Option<&str>, kind: WriteKind) -> Self {
        let start = buffer.len();
        buffer.extend([0x00, 0x01, 0x00]);
        opt_str(buffer, table);
        buffer.push(kind_tag(kind));
        let count_at = buffer.len();
        buffer.push(0);
        RowWriter { buffer, start, count_at, count: 0, in_columns: false, finished: false }
    }

    /// Starts a column named `name`; exactly one value call follows. Returns where the name's
    /// bytes are in the buffer (see [`RowWriter::written`]).
    pub fn name(&mut self, name: &str) -> std::ops::Range<usize> {
        self.count += 1;
        uvar(self.buffer, name.len() as u64);
        let at = self.buffer.len();
        self.buffer.extend_from_slice(name.as_bytes());
        at..self.buffer.len()
    }

    /// The column's value.
    pub fn value(&mut self, value: &Value) {
        write_value(self.buffer, value);
    }

    /// The column's value, text.
    pub fn text(&mut self, text: &str) {
        self.buffer.push(0x0c);
        str(self.buffer, text);
    }

    /// The column's value, text appended by `write` (which must append UTF-8 only). What
    /// `write` returns is returned; on an error the caller is expected to give the row up.
    pub fn text_with<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        self.buffer.extend([0x0c, 0]);
        let at = self.buffer.len();
        write(self.buffer)?;
        let length = self.buffer.len() - at;
        if length < 0x80 {
            self.buffer[at - 1] = length as u8;
        } else {
            let mut prefix = Vec::with_capacity(10);
            uvar(&mut prefix, length as u64);
            self.buffer.splice(at - 1..at, prefix);
        }
        Ok(())
    }

    /// Bytes this writer has put in the buffer, e.g. a name returned by [`RowWriter::name`].
    pub fn written(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.buffer[range]
    }

    /// Closes the primary key; the row's columns come next.
    pub fn columns(&mut self) {
        debug_assert!(!self.in_columns, "RowWriter::columns called twice");
        self.close_list();
        self.count_at = self.buffer.len();
        self.buffer.push(0);
        self.count = 0;
        self.in_columns = true;
    }

    /// Closes the row (no deleted columns) and keeps what was written.
    pub fn finish(mut self) {
        if !self.in_columns {
            self.columns();
        }
        self.close_list();
        self.buffer.push(0x00);
        self.finished = true;
    }

    /// Writes the open list's count in its reserved byte, widening it for 128 or more.
    fn close_list(&mut self) {
        if self.count < 0x80 {
            self.buffer[self.count_at] = self.count as u8;
            return;
        }
        let mut count = Vec::with_capacity(10);
        uvar(&mut count, self.count);
        self.buffer.splice(self.count_at..self.count_at + 1, count);
    }
}

impl Drop for RowWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buffer.truncate(self.start);
        }
    }
}

fn kind_tag(kind: WriteKind) -> u8 {
    match kind {
        WriteKind::Put => 0x00,
        WriteKind::Update => 0x01,
        WriteKind::Delete => 0x02,
    }
}

fn write_output(buffer: &mut Vec<u8>, output: &Output) {
    match output {
        Output::Row(row) => {
            buffer.push(0x00);
            opt_str(buffer, row.table.as_deref());
            buffer.push(kind_tag(row.kind));
            columns(buffer, &row.primary_key);
            columns(buffer, &row.columns);
            uvar(buffer, row.deleted_columns.len() as u64);
            for name in &row.deleted_columns {
                str(buffer, name);
            }
        }
        Output::Point(point) => {
            buffer.push(0x01);
            opt_str(buffer, point.table.as_deref());
            str(buffer, &point.measurement);
            str(buffer, &point.data_source);
            uvar(buffer, point.tags.len() as u64);
            for (name, value) in &point.tags {
                str(buffer, name);
                str(buffer, value);
            }
            svar(buffer, point.time_us);
            columns(buffer, &point.fields);
        }
        Output::Raw(raw) => {
            buffer.push(0x02);
            str(buffer, &raw.format);
            bytes(buffer, &raw.data);
        }
    }
}

fn columns(buffer: &mut Vec<u8>, columns: &[Column]) {
    uvar(buffer, columns.len() as u64);
    for column in columns {
        str(buffer, &column.name);
        write_value(buffer, &column.value);
    }
}

fn write_value(buffer: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => buffer.push(0x00),
        Value::Boolean(v) => buffer.extend([0x01, u8::from(*v)]),
        Value::Int8(v) => buffer.extend([0x02, *v as u8]),
        Value::Int16(v) => tagged_svar(buffer, 0x03, i64::from(*v)),
        Value::Int32(v) => tagged_svar(buffer, 0x04, i64::from(*v)),
        Value::Int64(v) => tagged_svar(buffer, 0x05, *v),
        Value::Uint8(v) => buffer.extend([0x06, *v]),
        Value::Uint16(v) => tagged_uvar(buffer, 0x07, u64::from(*v)),
        Value::Uint32(v) => tagged_uvar(buffer, 0x08, u64::from(*v)),
        Value::Uint64(v) => tagged_uvar(buffer, 0x09, *v),
        Value::Float32(v) => {
            buffer.push(0x0a);
            buffer.extend(v.to_le_bytes());
        }
        Value::Float64(v) => {
            buffer.push(0x0b);
            buffer.extend(v.to_le_bytes());
        }
        Value::Text(v) => {
            buffer.push(0x0c);
            str(buffer, v);
        }
        Value::Binary(v) => {
            buffer.push(0x0d);
            bytes(buffer, v);
        }
        Value::TimestampUs(v) => tagged_svar(buffer, 0x0e, *v),
    }
}

fn tagged_svar(buffer: &mut Vec<u8>, tag: u8, v: i64) {
    buffer.push(tag);
    svar(buffer, v);
}

fn tagged_uvar(buffer: &mut Vec<u8>, tag: u8, v: u64) {
    buffer.push(tag);
    uvar(buffer, v);
}

fn uvar(buffer: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buffer.push((v as u8) | 0x80);
        v >>= 7;
    }
    buffer.push(v as u8);
}

fn svar(buffer: &mut Vec<u8>, v: i64) {
    uvar(buffer, ((v << 1) ^ (v >> 63)) as u64);
}

fn str(buffer: &mut Vec<u8>, text: &str) {
    bytes(buffer, text.as_bytes());
}

fn opt_str(buffer: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => buffer.push(0x00),
        Some(text) => {
            buffer.push(0x01);
            str(buffer, text);
        }
    }
}

fn bytes(buffer: &mut Vec<u8>, data: &[u8]) {
    uvar(buffer, data.len() as u64);
    buffer.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{point, raw, row, PluginError, Row};

    /// The bytes wit/README.md's grammar gives, written out by hand.
    #[test]
    fn results_encode_as_the_specification_says() {
        let results: Vec<RecordResult> = vec![
            Ok(vec![
                row()
                    .table("t")
                    .kind(WriteKind::Update)
                    .key("id", -2i64)
                    .column("a", "é")
                    .column("b", 1.5f64)
                    .delete_column("x")
                    .build()
                    .into(),
                raw("line", b"m ".to_vec()).into(),
            ]),
            Err(PluginError::new("bad", "no").with_field("f")),
            Ok(vec![point("cpu", 64).tag("h", "1").field("v", 65535u16).build().into()]),
        ];
        let mut expected = vec![0x00, 0x02, 0x00, 0x01, 0x01, b't', 0x01, 0x01, 0x02, b'i', b'd', 0x05, 0x03];
        expected.extend([0x02, 0x01, b'a', 0x0c, 0x02, 0xc3, 0xa9, 0x01, b'b', 0x0b]);
        expected.extend(1.5f64.to_le_bytes());
        expected.extend([0x01, 0x01, b'x', 0x02, 0x04, b'l', b'i', b'n', b'e', 0x02, b'm', b' ']);
        expected.extend([0x01, 0x03, b'b', b'a', b'd', 0x02, b'n', b'o', 0x01, 0x01, b'f']);
        expected.extend([0x00, 0x01, 0x01, 0x00, 0x03, b'c', b'p', b'u', 0x00, 0x01, 0x01, b'h', 0x01, b'1']);
        expected.extend([0x80, 0x01, 0x01, 0x01, b'v', 0x07, 0xff, 0xff, 0x03]);
        assert_eq!(encode(&results), expected);
    }

    /// A row written field by field encodes as the same row built first; a writer given up
    /// half-way leaves the buffer as it was.
    #[test]
    fn row_writer_matches_the_built_row() {
        let many: Vec<Column> = (0..130).map(|i| Column::new(format!("c{i}"), i64::from(i))).collect();
        for (table, kind, columns) in
            [(Some("t"), WriteKind::Update, many.clone()), (None, WriteKind::Put, many[..2].to_vec())]
        {
            let built = Row {
                table: table.map(str::to_owned),
                kind,
                primary_key: vec![Column::new("k", "é"), Column::new("o", 7i64)],
                columns: [Column::new("t", "short"), Column::new("t", "long".repeat(40))]
                    .into_iter()
                    .chain(columns.iter().cloned())
                    .collect(),
                deleted_columns: Vec::new(),
            };
            let mut buffer = vec![0xaa];
            let mut row = RowWriter::begin(&mut buffer, table, kind);
            let at = row.name("k");
            assert_eq!(row.written(at), b"k");
            row.text("é");
            row.name("o");
            row.value(&Value::Int64(7));
            row.columns();
            for text in ["short", &"long".repeat(40)] {
                row.name("t");
                let appended: Result<(), ()> = row.text_with(|b| {
                    b.extend_from_slice(text.as_bytes());
                    Ok(())
                });
                assert_eq!(appended, Ok(()));
            }
            for column in &columns {
                row.name(&column.name);
                row.value(&column.value);
            }
            row.finish();
            let mut expected = vec![0xaa];
            expected.extend(encode(&[Ok(vec![Output::Row(built)])]));
            assert_eq!(buffer, expected);
        }
        let mut buffer = vec![0xaa];
        let mut row = RowWriter::begin(&mut buffer, None, WriteKind::Put);
        row.name("k");
        row.text("v");
        drop(row);
        assert_eq!(buffer, [0xaa]);
    }

    #[test]
    fn varints_cover_the_extremes() {
        let mut b = Vec::new();
        svar(&mut b, i64::MIN);
        assert_eq!(b, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        b.clear();
        uvar(&mut b, u64::MAX);
        assert_eq!(b, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        b.clear();
        svar(&mut b, -1);
        assert_eq!(b, [0x01]);
    }
}
