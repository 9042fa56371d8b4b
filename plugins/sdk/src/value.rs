//! Constructors and conversions for [`Value`], [`Column`] and [`Output`].

use crate::{Column, Output, Point, Raw, Row, Value};

impl Value {
    /// A `text` value.
    pub fn text(text: impl Into<String>) -> Self {
        Value::Text(text.into())
    }

    /// A `binary` value.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        Value::Binary(bytes.into())
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl Column {
    /// A column named `name` holding `value`.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Column { name: name.into(), value: value.into() }
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::$variant(v)
            }
        }
    )*};
}

value_from! {
    bool => Boolean,
    i8 => Int8,
    i16 => Int16,
    i32 => Int32,
    i64 => Int64,
    u8 => Uint8,
    u16 => Uint16,
    u32 => Uint32,
    u64 => Uint64,
    f32 => Float32,
    f64 => Float64,
    String => Text,
    Vec<u8> => Binary,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Binary(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<Row> for Output {
    fn from(row: Row) -> Self {
        Output::Row(row)
    }
}

impl From<Point> for Output {
    fn from(point: Point) -> Self {
        Output::Point(point)
    }
}

impl From<Raw> for Output {
    fn from(raw: Raw) -> Self {
        Output::Raw(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::from(5i64), Value::Int64(5));
        assert_eq!(Value::from("x"), Value::text("x"));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::from(Some(1.5f64)), Value::Float64(1.5));
        assert_eq!(Value::from(&b"ab"[..]), Value::binary(b"ab".to_vec()));
        assert!(Value::Null.is_null());
        let col = Column::new("id", 1u8);
        assert_eq!((col.name.as_str(), col.value), ("id", Value::Uint8(1)));
    }
}
