//! Time-series tables: points checked and turned into FlatBuffer rows (the service's
//! measurement and tag rules), `PutTimeseriesData` requests, and the table check with
//! `DescribeTimeseriesTable` / `CreateTimeseriesTable` (a missing time-series table is
//! answered with HTTP 500 `OTSInternalServerError`, not `OTSObjectNotExist`).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use super::client::{Client, OtsError};
use super::flatbuf::{self, FieldValue, TimeseriesRow};
use super::protocol;
use super::table::TableError;
use crate::model::{Point, Value};

/// Longest measurement name in bytes.
const MAX_MEASUREMENT: usize = 128;
/// Request size limit of the service.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Room left in a request for the protobuf envelope and FlatBuffer padding.
const REQUEST_MARGIN: usize = 64 * 1024;

/// A point ready to send, with the batch item it came from.
#[derive(Debug)]
pub struct EncodedPoint {
    /// Index of the item in the batch.
    pub item: usize,
    /// Destination table.
    pub table: String,
    /// The row.
    pub row: TimeseriesRow,
    /// Hash of the timeline and time (the row's identity: a later write overwrites it).
    pub key: u64,
    /// How errors name it: `measurement/data_source/[tags]@time`.
    pub label: String,
}

/// Checks `point` and turns it into a row; errors name the point and the offending part.
pub fn encode(item: usize, table: &str, point: &Point) -> Result<EncodedPoint, String> {
    let mut tags = point.tags.clone();
    tags.sort();
    let label = format!(
        "{}/{}/[{}]@{}",
        point.measurement,
        point.data_source,
        tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        point.time_us
    );
    let fail = |what: String| format!("point {label}: {what}");
    if point.measurement.is_empty() {
        return Err(fail("the measurement is empty".into()));
    }
    if point.measurement.contains('#') {
        return Err(fail(format!(
            "the measurement `{}` contains `#`, which time-series tables do not allow",
            point.measurement
        )));
    }
    if point.measurement.len() > MAX_MEASUREMENT {
        return Err(fail(format!(
            "the measurement has {} bytes; at most {MAX_MEASUREMENT} are allowed",
            point.measurement.len()
        )));
    }
    for (i, (name, value)) in tags.iter().enumerate() {
        if name.is_empty() || !name.bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'"' && b != b'=') {
            return Err(fail(format!("tag name `{name}` must be printable ASCII without spaces, `\"` or `=`")));
        }
        if value.is_empty() || value.contains(['"', '=']) {
            return Err(fail(format!(
                "tag `{name}` has the value `{value}`; tag values must be non-empty without `\"` or `=`"
            )));
        }
        if i > 0 && tags[i - 1].0 == *name {
            return Err(fail(format!("tag `{name}` is given twice")));
        }
    }
    let mut fields = Vec::with_capacity(point.fields.len());
    for column in &point.fields {
        let value = match &column.value {
            Value::Null => continue,
            Value::Boolean(b) => FieldValue::Bool(*b),
            Value::Int8(v) => FieldValue::Long((*v).into()),
            Value::Int16(v) => FieldValue::Long((*v).into()),
            Value::Int32(v) => FieldValue::Long((*v).into()),
            Value::Int64(v) | Value::TimestampUs(v) => FieldValue::Long(*v),
            Value::Uint8(v) => FieldValue::Long((*v).into()),
            Value::Uint16(v) => FieldValue::Long((*v).into()),
            Value::Uint32(v) => FieldValue::Long((*v).into()),
            Value::Uint64(v) => FieldValue::Long(i64::try_from(*v).map_err(|_| {
                fail(format!("field `{}`: {v} does not fit a time-series integer (int64)", column.name))
            })?),
            Value::Float32(v) => FieldValue::Double((*v).into()),
            Value::Float64(v) => FieldValue::Double(*v),
            Value::Text(s) => FieldValue::Text(s.clone()),
            Value::Binary(b) => FieldValue::Binary(b.clone()),
        };
        if column.name.is_empty() {
            return Err(fail("a field has an empty name".into()));
        }
        fields.push((column.name.clone(), value));
    }
    if fields.is_empty() {
        return Err(fail("the point has no (non-null) fields; a time-series row needs at least one".into()));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = fields.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(fail(format!("field `{}` is given twice", pair[0].0)));
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (table, &point.measurement, &point.data_source, &tags, point.time_us).hash(&mut hasher);
    let row = TimeseriesRow {
        measurement: point.measurement.clone(),
        data_source: point.data_source.clone(),
        tags,
        time_us: point.time_us,
        fields,
    };
    if row.size_hint() > MAX_REQUEST_BYTES - REQUEST_MARGIN {
        return Err(fail(format!(
            "the point has about {} bytes; a PutTimeseriesData may have at most 4 MB",
            row.size_hint()
        )));
    }
    Ok(EncodedPoint { item, table: table.to_string(), row, key: hasher.finish(), label })
}

/// Splits `indices` (points of one table, in order) into requests of at most `max_rows`
/// rows and 4 MB.
pub fn chunks(points: &[EncodedPoint], indices: &[usize], max_rows: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for &i in indices {
        let hint = points[i].row.size_hint();
        match out.last_mut() {
            Some(last) if last.len() < max_rows && size + hint <= MAX_REQUEST_BYTES - REQUEST_MARGIN => {
                last.push(i);
                size += hint;
            }
            _ => {
                out.push(vec![i]);
                size = hint;
            }
        }
    }
    out
}

/// The `PutTimeseriesData` request for `indices` (all of one table).
pub fn put_request(points: &[EncodedPoint], indices: &[usize]) -> protocol::PutTimeseriesDataRequest {
    let data = flatbuf::encode(indices.iter().map(|&i| &points[i].row));
    protocol::PutTimeseriesDataRequest {
        table_name: indices.first().map(|&i| points[i].table.clone()).unwrap_or_default(),
        rows_data: protocol::TimeseriesRows {
            r#type: protocol::RowsSerializeType::RstFlatBuffer as i32,
            flatbuffer_crc32c: Some(flatbuf::crc32c(&data)),
            rows_data: data,
        },
        meta_update_mode: Some(0),
        supported_table_version: Some(1),
    }
}

fn from_ots(error: OtsError) -> TableError {
    if error.class(true).retryable() {
        TableError::Retryable(error.to_string())
    } else {
        TableError::Fatal(error.to_string())
    }
}

/// Whether `DescribeTimeseriesTable` says the table is missing: `OTSObjectNotExist`, or
/// the HTTP 500 `OTSInternalServerError` the service really answers for a missing table.
fn missing(error: &OtsError) -> bool {
    matches!(error.code(), Some("OTSObjectNotExist"))
        || matches!(error, OtsError::Service { status: 500, code, .. } if code == "OTSInternalServerError")
}

/// `DescribeTimeseriesTable` once: `Ok(true)` exists, `Ok(false)` looks missing.
async fn describe(client: &Client, table: &str) -> Result<bool, OtsError> {
    let request = protocol::DescribeTimeseriesTableRequest { table_name: table.to_string() };
    match client.call_once::<_, protocol::DescribeTimeseriesTableResponse>("DescribeTimeseriesTable", &request).await {
        Ok(_) => Ok(true),
        Err(error) if missing(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Makes sure time-series table `table` exists, creating it (TTL -1) with `create`.
///
/// Since a missing table and a real server failure both answer HTTP 500, "missing" is only
/// believed after three answers a second apart; with `create`, `CreateTimeseriesTable`
/// settles it (an existing table answers `OTSObjectAlreadyExist`).
pub async fn ensure(client: &Client, table: &str, create: bool) -> Result<(), TableError> {
    let instance = &client.config().instance;
    let attempts = if create { 1 } else { 3 };
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let exists = match describe(client, table).await {
            Ok(exists) => exists,
            Err(error) => match client
                .call::<_, protocol::DescribeTimeseriesTableResponse>(
                    "DescribeTimeseriesTable",
                    &protocol::DescribeTimeseriesTableRequest { table_name: table.to_string() },
                    true,
                )
                .await
            {
                Ok(_) => true,
                Err(again) if missing(&again) => false,
                Err(_) => return Err(from_ots(error)),
            },
        };
        if exists {
            return Ok(());
        }
    }
    if !create {
        return Err(TableError::Fatal(format!(
            "time-series table `{table}` does not exist in instance `{instance}` (DescribeTimeseriesTable answers \
             HTTP 500 for a missing table); create it or set `auto.create=true`"
        )));
    }
    let request = protocol::CreateTimeseriesTableRequest {
        table_meta: protocol::TimeseriesTableMeta {
            table_name: table.to_string(),
            table_options: Some(protocol::TimeseriesTableOptions { time_to_live: Some(-1) }),
            status: None,
        },
    };
    match client.call::<_, protocol::CreateTimeseriesTableResponse>("CreateTimeseriesTable", &request, false).await {
        Ok(_) => tracing::info!(table, instance = %instance, "Created Tablestore time-series table."),
        Err(error) if error.code() == Some("OTSObjectAlreadyExist") => return Ok(()),
        Err(error) => return Err(from_ots(error)),
    }
    for _ in 0..20 {
        if describe(client, table).await.map_err(from_ots)? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(TableError::Retryable(format!("time-series table `{table}` was created but is not usable yet")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Column;

    fn point(measurement: &str, tags: &[(&str, &str)], fields: Vec<Column>) -> Point {
        Point {
            table: None,
            measurement: measurement.into(),
            data_source: "host-1".into(),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            time_us: 5,
            fields,
        }
    }

    #[test]
    fn sorts_tags_and_fields() {
        let p = point(
            "cpu",
            &[("z", "1"), ("a", "2")],
            vec![
                Column { name: "b".into(), value: Value::Int32(1) },
                Column { name: "a".into(), value: Value::Float64(0.5) },
            ],
        );
        let e = encode(3, "t", &p).unwrap();
        assert_eq!(e.row.tags[0].0, "a");
        assert_eq!(e.row.fields, vec![("a".into(), FieldValue::Double(0.5)), ("b".into(), FieldValue::Long(1))]);
        assert_eq!(e.label, "cpu/host-1/[a=2,z=1]@5");
    }

    #[test]
    fn rejects_what_the_service_refuses() {
        let f = || vec![Column { name: "v".into(), value: Value::Int32(1) }];
        for (p, needle) in [
            (point("a#b", &[], f()), "`#`"),
            (point(&"m".repeat(129), &[], f()), "129 bytes"),
            (point("m", &[("k", "a=b")], f()), "tag `k`"),
            (point("m", &[("k\"", "v")], f()), "tag name"),
            (point("m", &[], vec![Column { name: "v".into(), value: Value::Null }]), "no (non-null) fields"),
        ] {
            let error = encode(0, "t", &p).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn chunks_respect_the_row_limit() {
        let points: Vec<_> = (0..450)
            .map(|i| {
                encode(i, "t", &point("m", &[], vec![Column { name: "v".into(), value: Value::Int64(i as i64) }]))
                    .unwrap()
            })
            .collect();
        let indices: Vec<usize> = (0..450).collect();
        let sizes: Vec<usize> = chunks(&points, &indices, 200).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![200, 200, 50]);
        let request = put_request(&points, &[0, 1]);
        assert_eq!(request.rows_data.flatbuffer_crc32c, Some(flatbuf::crc32c(&request.rows_data.rows_data)));
    }
}
