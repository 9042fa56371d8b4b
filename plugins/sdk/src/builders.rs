//! Builders for outputs: [`row()`], [`point()`] and [`raw()`].

use crate::{Column, Point, Raw, Row, Value, WriteKind};

/// Start building a `put` [`Row`] for the connector's default table.
pub fn row() -> RowBuilder {
    RowBuilder {
        row: Row {
            table: None,
            kind: WriteKind::Put,
            primary_key: Vec::new(),
            columns: Vec::new(),
            deleted_columns: Vec::new(),
        },
    }
}

/// Start building a [`Point`] of `measurement` at `time_us` (microseconds since the epoch).
pub fn point(measurement: impl Into<String>, time_us: i64) -> PointBuilder {
    PointBuilder {
        point: Point {
            table: None,
            measurement: measurement.into(),
            data_source: String::new(),
            tags: Vec::new(),
            time_us,
            fields: Vec::new(),
        },
    }
}

/// A [`Raw`] payload already in the destination's native `format` (e.g. `line`, `json`).
pub fn raw(format: impl Into<String>, data: impl Into<Vec<u8>>) -> Raw {
    Raw { format: format.into(), data: data.into() }
}

/// Builder for a [`Row`]; see [`row()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RowBuilder {
    row: Row,
}

impl RowBuilder {
    /// Write to `table` instead of the connector's default.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.row.table = Some(table.into());
        self
    }

    /// Set the write kind (default `put`).
    pub fn kind(mut self, kind: WriteKind) -> Self {
        self.row.kind = kind;
        self
    }

    /// Append a primary key column.
    pub fn key(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.row.primary_key.push(Column::new(name, value));
        self
    }

    /// Append a data column.
    pub fn column(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.row.columns.push(Column::new(name, value));
        self
    }

    /// Append data columns.
    pub fn columns(mut self, columns: impl IntoIterator<Item = Column>) -> Self {
        self.row.columns.extend(columns);
        self
    }

    /// In `update` mode, delete the column `name`.
    pub fn delete_column(mut self, name: impl Into<String>) -> Self {
        self.row.deleted_columns.push(name.into());
        self
    }

    /// Finish the row.
    pub fn build(self) -> Row {
        self.row
    }
}

/// Builder for a [`Point`]; see [`point()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PointBuilder {
    point: Point,
}

impl PointBuilder {
    /// Write to `table` instead of the connector's default.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.point.table = Some(table.into());
        self
    }

    /// Set the data source (for example a host name).
    pub fn data_source(mut self, data_source: impl Into<String>) -> Self {
        self.point.data_source = data_source.into();
        self
    }

    /// Append a tag.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.point.tags.push((name.into(), value.into()));
        self
    }

    /// Append a field value.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.point.fields.push(Column::new(name, value));
        self
    }

    /// Finish the point.
    pub fn build(self) -> Point {
        self.point
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Output;

    #[test]
    fn builds_rows() {
        let row =
            row().table("t").kind(WriteKind::Update).key("id", 1i64).column("name", "x").delete_column("old").build();
        assert_eq!(row.table.as_deref(), Some("t"));
        assert_eq!(row.kind, WriteKind::Update);
        assert_eq!(row.primary_key, vec![Column::new("id", Value::Int64(1))]);
        assert_eq!(row.columns, vec![Column::new("name", Value::text("x"))]);
        assert_eq!(row.deleted_columns, vec!["old".to_string()]);
        assert!(matches!(Output::from(row), Output::Row(_)));
    }

    #[test]
    fn builds_points_and_raw() {
        let p = point("cpu", 42).data_source("host1").tag("region", "eu").field("usage", 0.5f64).build();
        assert_eq!((p.measurement.as_str(), p.time_us), ("cpu", 42));
        assert_eq!(p.tags, vec![("region".to_string(), "eu".to_string())]);
        assert_eq!(p.fields[0].value, Value::Float64(0.5));
        let r = raw("line", "cpu usage=0.5");
        assert_eq!(r.data, b"cpu usage=0.5");
    }
}
