//! Schemaless JSON straight into columns, without a `serde_json::Value` tree for the top-level
//! object: fields become columns as they are read, in document order. Only nested objects and
//! arrays (written as their compact JSON text) and, when envelopes are detected, the
//! `schema` and `payload` fields are kept as trees.
//!
//! The result is the same as parsing into a `Value` and converting it with
//! [`plain::columns`]: a repeated key keeps its first position and its last value.

use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize as _;
use serde_json::Value as Json;
use sluice_plugin_sdk::{Column, Value};

use crate::converter::Integers;
use crate::plain;

/// What a JSON document decoded to.
pub(crate) enum Document {
    /// JSON `null`.
    Null,
    /// A top-level scalar, array or object turned into columns.
    Columns(Vec<Column>),
    /// An object with exactly the keys `schema` and `payload` (only when envelopes are
    /// detected): the two trees.
    Envelope { schema: Json, payload: Json },
}

/// Decodes `bytes`; `scalar_name` names the one column of a top-level non-object, and
/// `detect_envelope` keeps `schema` and `payload` aside until the object is complete.
pub(crate) fn decode(
    bytes: &[u8],
    scalar_name: &str,
    integers: Integers,
    detect_envelope: bool,
) -> Result<Document, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = Top { scalar_name, integers, detect_envelope }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(document)
}

/// The top-level value.
struct Top<'a> {
    scalar_name: &'a str,
    integers: Integers,
    detect_envelope: bool,
}

impl Top<'_> {
    fn scalar(&self, value: Value) -> Document {
        Document::Columns(vec![Column { name: self.scalar_name.to_owned(), value }])
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Document;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Document, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Document, E> {
        Ok(Document::Null)
    }

    fn visit_none<E>(self) -> Result<Document, E> {
        Ok(Document::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Document, E> {
        Ok(self.scalar(Value::Boolean(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Document, E> {
        Ok(self.scalar(signed(v, self.integers)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Document, E> {
        Ok(self.scalar(unsigned(v, self.integers)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Document, E> {
        Ok(self.scalar(Value::Float64(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Document, E> {
        Ok(self.scalar(Value::Text(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Document, E> {
        Ok(self.scalar(Value::Text(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Document, A::Error> {
        let array = Json::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.scalar(Value::Text(plain::compact(&array))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut columns = Columns::default();
        // `schema` and `payload`, kept as trees while the object may be an envelope.
        let mut held: Vec<(usize, Json)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if self.detect_envelope && (name == "schema" || name == "payload") {
                let tree = map.next_value::<Json>()?;
                let at = columns.put(name, Value::Null);
                match held.iter_mut().find(|(i, _)| *i == at) {
                    Some(slot) => slot.1 = tree,
                    None => held.push((at, tree)),
                }
            } else {
                let value = map.next_value_seed(Field { integers: self.integers })?;
                let at = columns.put(name, value);
                held.retain(|(i, _)| *i != at);
            }
        }
        let mut columns = columns.list;
        if held.len() == 2 && columns.len() == 2 {
            let mut trees = held.into_iter().map(|(i, tree)| (columns[i].name == "schema", tree));
            let (first_is_schema, first) = trees.next().unwrap_or_default();
            let (_, second) = trees.next().unwrap_or_default();
            let (schema, payload) = if first_is_schema { (first, second) } else { (second, first) };
            return Ok(Document::Envelope { schema, payload });
        }
        for (at, tree) in held {
            columns[at].value = plain::value(tree, self.integers);
        }
        Ok(Document::Columns(columns))
    }
}

/// Columns in document order; a repeated name replaces the value in its first position.
#[derive(Default)]
struct Columns {
    list: Vec<Column>,
    /// Positions by name, built once an object has many fields (a linear scan is faster
    /// below that).
    index: Option<HashMap<String, usize>>,
}

/// Fields up to which repeated names are found by a linear scan.
const SCAN_LIMIT: usize = 32;

impl Columns {
    /// Adds or replaces `name`; returns its position.
    fn put(&mut self, name: String, value: Value) -> usize {
        let found = match &self.index {
            Some(index) => index.get(&name).copied(),
            None => self.list.iter().position(|c| c.name == name),
        };
        if let Some(at) = found {
            self.list[at].value = value;
            return at;
        }
        let at = self.list.len();
        if let Some(index) = &mut self.index {
            index.insert(name.clone(), at);
        } else if at == SCAN_LIMIT {
            let mut index: HashMap<String, usize> =
                self.list.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
            index.insert(name.clone(), at);
            self.index = Some(index);
        }
        self.list.push(Column { name, value });
        at
    }
}

/// One field's value.
struct Field {
    integers: Integers,
}

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(signed(v, self.integers))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(unsigned(v, self.integers))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float64(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let array = Json::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Value::Text(plain::compact(&array)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let object = Json::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Value::Text(plain::compact(&object)))
    }
}

fn signed(v: i64, integers: Integers) -> Value {
    match integers {
        Integers::Int64 => Value::Int64(v),
        Integers::Text => Value::Text(v.to_string()),
    }
}

fn unsigned(v: u64, integers: Integers) -> Value {
    match (integers, i64::try_from(v)) {
        (Integers::Int64, Ok(v)) => Value::Int64(v),
        (Integers::Int64, Err(_)) => Value::Uint64(v),
        (Integers::Text, _) => Value::Text(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree-based conversion this module replaces, as the reference.
    fn via_tree(text: &str, integers: Integers) -> Option<Vec<Column>> {
        plain::columns(serde_json::from_str(text).unwrap(), "value", integers)
    }

    fn streamed(text: &str, integers: Integers, detect: bool) -> Option<Vec<Column>> {
        match decode(text.as_bytes(), "value", integers, detect).unwrap() {
            Document::Null => None,
            Document::Columns(columns) => Some(columns),
            Document::Envelope { .. } => panic!("not an envelope: {text}"),
        }
    }

    #[test]
    fn same_columns_as_the_tree() {
        let many: String =
            format!("{{{}}}", (0..80).map(|i| format!("\"f{}\":{}", i % 50, i)).collect::<Vec<_>>().join(","));
        let documents = [
            r#"{"order_id":100001,"product":"bagel","price":1.25,"paid":false,"customer":{"id":"c-1","tier":"gold"},"ts":1700000000000}"#,
            r#"{"a":1,"b":[1,{"x":null}],"a":"again","big":18446744073709551615,"neg":-5,"n":null,"e":"\u00e9\n"}"#,
            r#"{"schema":1,"other":2}"#,
            r#"{"payload":{"a":1}}"#,
            r#"{"schema":{"type":"int32"},"payload":3,"schema":null,"extra":true}"#,
            r#"  {"x" : 1.5e3 , "y" : 12345678901234567890123 }  "#,
            "[1,2,3]",
            "\"text\"",
            "42",
            "-7",
            "true",
            "2.5",
            "null",
            "{}",
            &many,
        ];
        for text in documents {
            for integers in [Integers::Int64, Integers::Text] {
                for detect in [false, true] {
                    assert_eq!(streamed(text, integers, detect), via_tree(text, integers), "{text}");
                }
            }
        }
    }

    #[test]
    fn envelopes_are_recognised_in_either_order() {
        for text in [r#"{"schema":{"type":"int32"},"payload":3}"#, r#"{"payload":3,"schema":{"type":"int32"}}"#] {
            match decode(text.as_bytes(), "value", Integers::Int64, true).unwrap() {
                Document::Envelope { schema, payload } => {
                    assert_eq!(schema, serde_json::json!({"type": "int32"}));
                    assert_eq!(payload, serde_json::json!(3));
                }
                _ => panic!("{text} is an envelope"),
            }
        }
        assert!(matches!(
            decode(br#"{"schema":null,"payload":null}"#, "value", Integers::Int64, true).unwrap(),
            Document::Envelope { schema: Json::Null, payload: Json::Null }
        ));
    }

    #[test]
    fn invalid_json_is_an_error() {
        for text in ["{", "{\"a\":1}x", "", "{\"a\" 1}", "[1,]", "\"\\ud800\""] {
            assert!(decode(text.as_bytes(), "value", Integers::Int64, true).is_err(), "{text}");
            assert!(serde_json::from_str::<Json>(text).is_err(), "{text}");
        }
    }
}
