//! Turning parser rows into PlainBuffer row changes, and grouping them into batch requests:
//! at most 200 rows and 4 MB per request, one entry per table, never two rows with the same
//! primary key in one request (the batch is cut instead), and — with
//! `insert.order.enable` — never two writes of the same key in flight (a repeated key
//! starts a new wave; waves run one after another, the requests of a wave in parallel).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use super::config::{KeyColumn, WriteApi};
use super::plainbuffer::{Encoder, Update, Value as Pb};
use super::protocol::{self, OperationType, PrimaryKeyType};
use crate::model::{Column, Row, Value, WriteKind};

/// Rows per batch request.
pub const MAX_ROWS: usize = 200;
/// Bytes of row data per batch request (4 MB, less room for the protobuf framing).
pub const MAX_BYTES: usize = 4 * 1024 * 1024 - 64 * 1024;
/// Largest primary key value (STRING/BINARY).
pub const MAX_KEY_VALUE: usize = 1024;
/// Largest attribute value (STRING/BINARY).
pub const MAX_ATTRIBUTE_VALUE: usize = 2 * 1024 * 1024;
/// Most columns in one row write.
pub const MAX_COLUMNS: usize = 1024;
/// Most columns in a primary key.
pub const MAX_KEY_COLUMNS: usize = 4;

/// One encoded row change.
#[derive(Debug, Clone)]
pub struct EncodedRow {
    /// Index of the batch item it came from.
    pub item: usize,
    /// Destination table (shared by the rows of a batch that go to the same table).
    pub table: Arc<str>,
    /// Put, update or delete.
    pub op: OperationType,
    /// PlainBuffer bytes.
    pub bytes: bytes::Bytes,
    /// Hash of table and primary key (to keep equal keys apart).
    pub key: u64,
    /// The primary key as text, for messages.
    pub label: String,
}

/// Encodes `row` for `table`, checking it against the table's primary key (when known)
/// and the service limits. Errors name the table and the field.
pub fn encode(item: usize, table: &Arc<str>, row: &Row, schema: Option<&[KeyColumn]>) -> Result<EncodedRow, String> {
    let label = key_label(table, &row.primary_key);
    let fail = |field: &str, why: String| format!("row {label}: field `{field}`: {why}");
    if let Some(schema) = schema {
        let same = row.primary_key.len() == schema.len()
            && row.primary_key.iter().zip(schema).all(|(column, key)| *column.name == *key.name);
        if !same {
            let names: Vec<&str> = row.primary_key.iter().map(|c| &*c.name).collect();
            let expected: Vec<&str> = schema.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "row {label}: the primary key columns are ({}) but table `{table}` has ({})",
                names.join(", "),
                expected.join(", ")
            ));
        }
    }
    if row.primary_key.is_empty() || row.primary_key.len() > MAX_KEY_COLUMNS {
        return Err(format!(
            "row {label}: a Tablestore primary key has 1 to {MAX_KEY_COLUMNS} columns, this row has {}",
            row.primary_key.len()
        ));
    }
    // At most four key columns: kept on the stack (this runs for every row).
    let mut pk: [(&str, Pb<'_>); MAX_KEY_COLUMNS] = [("", Pb::InfMin); MAX_KEY_COLUMNS];
    for (i, column) in row.primary_key.iter().enumerate() {
        let spec = schema.and_then(|s| s.get(i));
        let value = match (&column.value, spec) {
            (Value::Null, Some(spec)) if spec.auto_increment => Pb::AutoIncrement,
            (value, _) => key_value(value).map_err(|why| fail(&column.name, why))?,
        };
        if let Some(spec) = spec {
            let actual = match value {
                Pb::Integer(_) | Pb::AutoIncrement => PrimaryKeyType::Integer,
                Pb::String(_) => PrimaryKeyType::String,
                _ => PrimaryKeyType::Binary,
            };
            if actual != spec.kind {
                return Err(fail(
                    &column.name,
                    format!("table `{table}` wants {:?} but the value is {actual:?}", spec.kind).to_lowercase(),
                ));
            }
        }
        if value.data_size() > MAX_KEY_VALUE && matches!(value, Pb::String(_) | Pb::Binary(_)) {
            return Err(fail(
                &column.name,
                format!("a primary key value may have at most 1 KB, this one has {} bytes", value.data_size()),
            ));
        }
        pk[i] = (&*column.name, value);
    }
    let pk = &pk[..row.primary_key.len()];

    // The columns are checked in one pass and encoded in a second, without collecting them.
    let mut written = 0;
    let mut size = 16 + pk.iter().map(|(name, value)| Encoder::cell_size(name, value)).sum::<usize>();
    for column in &row.columns {
        let Some(value) = attribute_value(&column.value).map_err(|why| fail(&column.name, why))? else {
            continue;
        };
        if value.data_size() > MAX_ATTRIBUTE_VALUE && matches!(value, Pb::String(_) | Pb::Binary(_)) {
            return Err(fail(
                &column.name,
                format!("an attribute value may have at most 2 MB, this one has {} bytes", value.data_size()),
            ));
        }
        written += 1;
        size += Encoder::cell_size(&column.name, &value);
    }
    if written + row.deleted_columns.len() > MAX_COLUMNS {
        return Err(format!(
            "row {label}: at most {MAX_COLUMNS} columns can be written at once, this row has {written}"
        ));
    }
    // Every value converts: checked above.
    let attributes = row.columns.iter().filter_map(|c| Some((&*c.name, attribute_value(&c.value).ok()??)));
    let mut bytes = Vec::with_capacity(size);
    let mut encoder = Encoder::new(&mut bytes);
    let (op, key_cells) = match row.kind {
        WriteKind::Put => (OperationType::Put, encoder.put(pk, attributes)),
        WriteKind::Update => {
            let mut cells: Vec<Update<'_>> = attributes.map(|(name, value)| Update::Put(name, value)).collect();
            cells.extend(row.deleted_columns.iter().map(|n| Update::DeleteAll(n)));
            if cells.is_empty() {
                return Err(format!("row {label}: an update needs at least one column to set or delete"));
            }
            (OperationType::Update, encoder.update(pk, &cells))
        }
        WriteKind::Delete => (OperationType::Delete, encoder.delete(pk)),
    };
    if bytes.len() > MAX_BYTES {
        return Err(format!("row {label}: the row has {} bytes; a row write may have at most 4 MB", bytes.len()));
    }
    // Equal keys of one table encode to equal cells.
    let mut key_hasher = DefaultHasher::new();
    table.hash(&mut key_hasher);
    key_hasher.write(&bytes[key_cells]);
    let key = key_hasher.finish();
    Ok(EncodedRow { item, table: table.clone(), op, bytes: bytes.into(), key, label })
}

/// Checks `row`'s primary key against `table`'s (the schema check at load): the column
/// names in order and, per column, a value type the key type can take. `Err` names the
/// column. Whether a value fits (its size) is checked per row by [`encode`].
pub fn check_key(table: &str, row: &Row, schema: &[KeyColumn]) -> Result<(), String> {
    let names: Vec<&str> = row.primary_key.iter().map(|c| &*c.name).collect();
    let expected: Vec<&str> = schema.iter().map(|c| c.name.as_str()).collect();
    if names != expected {
        let column = names
            .iter()
            .zip(&expected)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("column `{a}` where the table has `{b}`"))
            .or_else(|| expected.get(names.len()).map(|b| format!("no column `{b}`")))
            .or_else(|| names.get(expected.len()).map(|a| format!("an extra column `{a}`")))
            .unwrap_or_default();
        return Err(format!(
            "the parser's primary key is ({}) but table `{table}` has ({}): {column}",
            names.join(", "),
            expected.join(", ")
        ));
    }
    for (column, spec) in row.primary_key.iter().zip(schema) {
        let fits = match &column.value {
            Value::Null => true,
            Value::Text(_) => spec.kind == PrimaryKeyType::String,
            Value::Binary(_) => spec.kind == PrimaryKeyType::Binary,
            value if integer(value).is_some() => spec.kind == PrimaryKeyType::Integer,
            _ => false,
        };
        if !fits {
            return Err(format!(
                "primary key column `{}` of table `{table}` is {} but the parser gives it {}",
                column.name,
                format!("{:?}", spec.kind).to_uppercase(),
                match &column.value {
                    Value::Text(_) => "a string".to_string(),
                    Value::Binary(_) => "bytes".to_string(),
                    value if integer(value).is_some() => "an integer".to_string(),
                    other => kind_name(other).to_string(),
                }
            ));
        }
    }
    Ok(())
}

fn integer(value: &Value) -> Option<Result<i64, String>> {
    Some(Ok(match *value {
        Value::Int8(v) => v.into(),
        Value::Int16(v) => v.into(),
        Value::Int32(v) => v.into(),
        Value::Int64(v) => v,
        Value::Uint8(v) => v.into(),
        Value::Uint16(v) => v.into(),
        Value::Uint32(v) => v.into(),
        Value::Uint64(v) => {
            return Some(i64::try_from(v).map_err(|_| format!("{v} does not fit a Tablestore INTEGER (int64)")));
        }
        // Tablestore has no timestamp type: milliseconds since the epoch, as Kafka Connect has them.
        Value::TimestampUs(us) => us.div_euclid(1000),
        _ => return None,
    }))
}

fn key_value(value: &Value) -> Result<Pb<'_>, String> {
    if let Some(i) = integer(value) {
        return i.map(Pb::Integer);
    }
    match value {
        Value::Text(s) => Ok(Pb::String(s)),
        Value::Binary(b) => Ok(Pb::Binary(b)),
        Value::Null => Err("a primary key value must not be null".into()),
        other => Err(format!("{} cannot be a primary key value (string, integer or binary)", kind_name(other))),
    }
}

fn attribute_value(value: &Value) -> Result<Option<Pb<'_>>, String> {
    if let Some(i) = integer(value) {
        return i.map(|i| Some(Pb::Integer(i)));
    }
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Boolean(b) => Pb::Boolean(*b),
        Value::Float32(f) => Pb::Double(f64::from(*f)),
        Value::Float64(f) => Pb::Double(*f),
        Value::Text(s) => Pb::String(s),
        Value::Binary(b) => Pb::Binary(b),
        _ => return Ok(None),
    }))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Boolean(_) => "a boolean",
        Value::Float32(_) | Value::Float64(_) => "a floating-point number",
        _ => "this value",
    }
}

/// `table(name=value, ...)`, built in one string (it is made for every row).
fn key_label(table: &str, pk: &[Column]) -> String {
    use std::fmt::Write as _;
    let mut label = String::with_capacity(table.len() + 2 + pk.iter().map(|c| c.name.len() + 16).sum::<usize>());
    label.push_str(table);
    label.push('(');
    for (i, c) in pk.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        let _ = match &c.value {
            Value::Text(s) => write!(label, "{}={s:?}", c.name),
            Value::Int64(v) => write!(label, "{}={v}", c.name),
            Value::Binary(b) => write!(label, "{}=<{} bytes>", c.name, b.len()),
            other => write!(label, "{}={}", c.name, crate::plugin::render::value(other).1),
        };
    }
    label.push(')');
    label
}

/// Hashes [`EncodedRow::key`]s, which are hashes already, by passing them through.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// A set of row keys.
pub type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;
/// A map from row keys.
pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Indices of rows making up one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Row indices, grouped by table in first-seen order.
    pub rows: Vec<usize>,
    bytes: usize,
}

/// Groups the rows at `indices` into waves of requests (see the module docs).
pub fn plan(
    rows: &[EncodedRow],
    indices: impl IntoIterator<Item = usize>,
    api: WriteApi,
    keep_order: bool,
) -> Vec<Vec<Request>> {
    let mut waves: Vec<Vec<Request>> = Vec::new();
    let mut wave: Vec<Request> = Vec::new();
    // Open request per table (BulkImport) or one open request (BatchWriteRow): index into `wave`.
    let mut open: Vec<(Arc<str>, usize)> = Vec::new();
    let mut wave_keys = KeySet::default();
    let mut request_keys: Vec<KeySet> = Vec::new();
    for index in indices {
        let row = &rows[index];
        if keep_order && wave_keys.contains(&row.key) {
            waves.push(std::mem::take(&mut wave));
            open.clear();
            wave_keys.clear();
            request_keys.clear();
        }
        let slot = match api {
            WriteApi::BatchWriteRow => open.first().map(|(_, i)| *i),
            WriteApi::BulkImport => open.iter().find(|(t, _)| *t == row.table).map(|(_, i)| *i),
        };
        let fits = |r: &Request, keys: &KeySet| {
            r.rows.len() < MAX_ROWS && r.bytes + row.bytes.len() <= MAX_BYTES && !keys.contains(&row.key)
        };
        let target = match slot {
            Some(i) if fits(&wave[i], &request_keys[i]) => i,
            _ => {
                wave.push(Request::default());
                request_keys.push(KeySet::default());
                let i = wave.len() - 1;
                let name = if api == WriteApi::BulkImport { row.table.clone() } else { Arc::from("") };
                open.retain(|(t, _)| *t != name);
                open.push((name, i));
                i
            }
        };
        wave[target].rows.push(index);
        wave[target].bytes += row.bytes.len();
        request_keys[target].insert(row.key);
        wave_keys.insert(row.key);
    }
    if !wave.is_empty() {
        waves.push(wave);
    }
    waves
}

/// The `BatchWriteRow` request of `rows` (one entry per table, tables in first-seen order),
/// and the row indices in response order.
pub fn batch_write_row(rows: &[EncodedRow], indices: &[usize]) -> (protocol::BatchWriteRowRequest, Vec<usize>) {
    let mut tables: Vec<protocol::TableInBatchWriteRowRequest> = Vec::new();
    let mut order: Vec<Vec<usize>> = Vec::new();
    for &i in indices {
        let row = &rows[i];
        let slot = match tables.iter().position(|t| *t.table_name == *row.table) {
            Some(slot) => slot,
            None => {
                tables.push(protocol::TableInBatchWriteRowRequest {
                    table_name: row.table.to_string(),
                    rows: Vec::new(),
                });
                order.push(Vec::new());
                tables.len() - 1
            }
        };
        tables[slot].rows.push(protocol::RowInBatchWriteRowRequest {
            r#type: row.op as i32,
            row_change: row.bytes.clone(),
            condition: protocol::Condition {
                row_existence: protocol::RowExistenceExpectation::Ignore as i32,
                column_condition: None,
            },
        });
        order[slot].push(i);
    }
    (protocol::BatchWriteRowRequest { tables }, order.concat())
}

/// The `BulkImport` request of `rows` (all of one table).
pub fn bulk_import(rows: &[EncodedRow], indices: &[usize]) -> protocol::BulkImportRequest {
    protocol::BulkImportRequest {
        table_name: indices.first().map(|&i| rows[i].table.to_string()).unwrap_or_default(),
        rows: indices
            .iter()
            .map(|&i| protocol::RowInBulkImportRequest { r#type: rows[i].op as i32, row_change: rows[i].bytes.clone() })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: i64, kind: WriteKind) -> Row {
        Row {
            table: None,
            kind,
            primary_key: vec![Column { name: "id".into(), value: Value::Int64(key) }],
            columns: vec![Column { name: "v".into(), value: Value::Text("x".into()) }],
            deleted_columns: vec![],
        }
    }

    fn rows(keys: &[i64], table: &str) -> Vec<EncodedRow> {
        let table: Arc<str> = Arc::from(table);
        keys.iter().enumerate().map(|(i, k)| encode(i, &table, &row(*k, WriteKind::Put), None).unwrap()).collect()
    }

    fn shape(waves: &[Vec<Request>]) -> Vec<Vec<Vec<usize>>> {
        waves.iter().map(|w| w.iter().map(|r| r.rows.clone()).collect()).collect()
    }

    #[test]
    fn repeated_keys_start_a_new_wave_in_order_mode() {
        let r = rows(&[1, 2, 1, 3], "t");
        assert_eq!(
            shape(&plan(&r, 0..r.len(), WriteApi::BatchWriteRow, true)),
            vec![vec![vec![0, 1]], vec![vec![2, 3]]]
        );
        // Without ordering, the repeated key only cuts the request.
        assert_eq!(shape(&plan(&r, 0..r.len(), WriteApi::BatchWriteRow, false)), vec![vec![vec![0, 1], vec![2, 3]]]);
    }

    #[test]
    fn requests_hold_at_most_200_rows() {
        let keys: Vec<i64> = (0..450).collect();
        let r = rows(&keys, "t");
        let waves = plan(&r, 0..r.len(), WriteApi::BatchWriteRow, true);
        let sizes: Vec<usize> = waves[0].iter().map(|r| r.rows.len()).collect();
        assert_eq!(sizes, vec![200, 200, 50]);
    }

    #[test]
    fn bulk_import_has_one_table_per_request() {
        let mut r = rows(&[1, 2], "a");
        r.extend(rows(&[3], "b"));
        r[2].item = 2;
        assert_eq!(shape(&plan(&r, 0..r.len(), WriteApi::BulkImport, true)), vec![vec![vec![0, 1], vec![2]]]);
        let (request, order) = batch_write_row(&r, &[0, 2, 1]);
        assert_eq!(request.tables.len(), 2);
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn values_that_do_not_fit_name_the_field() {
        let mut big = row(1, WriteKind::Put);
        big.primary_key[0].value = Value::Text("k".repeat(1025).into());
        let error = encode(0, &Arc::from("t"), &big, None).unwrap_err();
        assert!(error.contains("field `id`") && error.contains("1 KB"), "{error}");
        let mut big = row(1, WriteKind::Put);
        big.columns[0].value = Value::Binary(vec![0; MAX_ATTRIBUTE_VALUE + 1].into());
        assert!(encode(0, &Arc::from("t"), &big, None).unwrap_err().contains("field `v`"));
        let schema = [KeyColumn { name: "id".into(), kind: PrimaryKeyType::String, auto_increment: false }];
        let error = encode(0, &Arc::from("t"), &row(1, WriteKind::Put), Some(&schema)).unwrap_err();
        assert!(error.contains("field `id`") && error.contains("string"), "{error}");
        let mut unsigned = row(1, WriteKind::Put);
        unsigned.columns[0].value = Value::Uint64(u64::MAX);
        assert!(encode(0, &Arc::from("t"), &unsigned, None).unwrap_err().contains("int64"));
    }

    #[test]
    fn auto_increment_placeholder() {
        let schema = [KeyColumn { name: "id".into(), kind: PrimaryKeyType::Integer, auto_increment: true }];
        let mut r = row(1, WriteKind::Put);
        r.primary_key[0].value = Value::Null;
        let encoded = encode(0, &Arc::from("t"), &r, Some(&schema)).unwrap();
        assert!(encoded.bytes.windows(2).any(|w| w == [0x01, 0x00] || w == [0x0b, 0x0a]));
    }

    #[test]
    fn the_key_check_names_the_column_that_can_never_fit() {
        let schema = [
            KeyColumn { name: "topic_partition".into(), kind: PrimaryKeyType::String, auto_increment: false },
            KeyColumn { name: "offset".into(), kind: PrimaryKeyType::Integer, auto_increment: false },
        ];
        let mut r = row(1, WriteKind::Put);
        let error = check_key("t", &r, &schema).unwrap_err();
        assert!(error.contains("column `id` where the table has `topic_partition`"), "{error}");
        r.primary_key = vec![
            Column { name: "topic_partition".into(), value: Value::Text("t_0".into()) },
            Column { name: "offset".into(), value: Value::Text("7".into()) },
        ];
        let error = check_key("t", &r, &schema).unwrap_err();
        assert!(
            error.contains("column `offset`") && error.contains("INTEGER") && error.contains("a string"),
            "{error}"
        );
        r.primary_key[1].value = Value::Int32(7);
        check_key("t", &r, &schema).unwrap();
        r.primary_key.pop();
        assert!(check_key("t", &r, &schema).unwrap_err().contains("no column `offset`"));
    }
}
