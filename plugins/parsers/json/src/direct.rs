//! The fast path of the common case: a schemaless JSON object written straight into the
//! compact encoding while it is read. Names and text are copied from the input once; no
//! [`Column`](sluice_plugin_sdk::Column), [`Value`] tree or `Output` is built, and nested
//! objects and arrays are rewritten as compact JSON text as they are read, not through a
//! `serde_json::Value`.
//!
//! The path gives up on anything outside that case — a value that is not an object, a
//! repeated name (at the top or in a nested object), more than [`FIELDS`] fields in one
//! object, a `schema` or `payload` field while envelopes are detected, a null field where
//! nulls are dropped, invalid JSON — and the caller then
//! parses the record the general way. So both paths give the same result by construction:
//! the fast path only writes what the general one would, in the same order.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use sluice_plugin_sdk::compact::RowWriter;
use sluice_plugin_sdk::{Value, WriteKind};

use crate::converter::Integers;

/// Fields of one object up to which the fast path is taken (repeated names are found by a
/// linear scan over the names written so far).
pub(crate) const FIELDS: usize = 32;

/// What the settings decided for every record that takes the fast path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// How integers are typed.
    pub(crate) integers: Integers,
    /// Whether an object with `schema` and `payload` may be an envelope (the general path
    /// decides).
    pub(crate) detect_envelope: bool,
    /// Whether null fields are left out of the row (the Tablestore sink's put), in which case
    /// the fast path gives up on them.
    pub(crate) drop_nulls: bool,
}

/// The row's destination and primary key, as the general path builds them.
pub(crate) struct Target<'a> {
    /// The row's table (`None`: the connector's default).
    pub(crate) table: Option<&'a str>,
    /// `topic_partition` and `offset` (`primarykey.mode=kafka`), or no key (`none`).
    pub(crate) kafka_key: Option<(&'a str, i64)>,
}

/// Writes the result of a record whose value is `json` (one `put` row) to `out`. Returns
/// `false`, with `out` unchanged, when the record is outside the fast path's case.
pub(crate) fn write(out: &mut Vec<u8>, json: &[u8], plan: Plan, target: Target<'_>) -> bool {
    let mut row = RowWriter::begin(out, target.table, WriteKind::Put);
    if let Some((topic_partition, offset)) = target.kafka_key {
        row.name("topic_partition");
        row.text(topic_partition);
        row.name("offset");
        row.value(&Value::Int64(offset));
    }
    row.columns();
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let object = Object { row: &mut row, plan };
    if deserializer.deserialize_map(object).is_err() || deserializer.end().is_err() {
        // Dropping the writer removes what it wrote.
        return false;
    }
    row.finish();
    true
}

/// The reason every early return gives (never shown: the general path then runs).
const GIVE_UP: &str = "outside the fast path";

/// The top-level object.
struct Object<'w, 'b> {
    row: &'w mut RowWriter<'b>,
    plan: Plan,
}

impl<'de> Visitor<'de> for Object<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names: [Range<usize>; FIELDS] = std::array::from_fn(|_| 0..0);
        let mut fields = 0;
        while let Some(name) =
            map.next_key_seed(Name { row: &mut *self.row, names: &names[..fields], plan: self.plan })?
        {
            if fields == FIELDS {
                return Err(A::Error::custom(GIVE_UP));
            }
            names[fields] = name;
            fields += 1;
            map.next_value_seed(Field { row: &mut *self.row, plan: self.plan })?;
        }
        Ok(())
    }
}

/// A field's name: written unless it repeats an earlier one or may start an envelope.
struct Name<'w, 'b, 'n> {
    row: &'w mut RowWriter<'b>,
    /// Where the object's earlier names are in the buffer.
    names: &'n [Range<usize>],
    plan: Plan,
}

impl<'de> DeserializeSeed<'de> for Name<'_, '_, '_> {
    type Value = Range<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Range<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name<'_, '_, '_> {
    type Value = Range<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Range<usize>, E> {
        let envelope = self.plan.detect_envelope && (name == "schema" || name == "payload");
        if envelope || self.names.iter().any(|earlier| self.row.written(earlier.clone()) == name.as_bytes()) {
            return Err(E::custom(GIVE_UP));
        }
        Ok(self.row.name(name))
    }
}

/// A field's value.
struct Field<'w, 'b> {
    row: &'w mut RowWriter<'b>,
    plan: Plan,
}

impl Field<'_, '_> {
    fn integer(self, v: Result<i64, u64>) {
        match (self.plan.integers, v) {
            (Integers::Int64, Ok(v)) => self.row.value(&Value::Int64(v)),
            (Integers::Int64, Err(v)) => self.row.value(&Value::Uint64(v)),
            (Integers::Text, Ok(v)) => self.row.text(&v.to_string()),
            (Integers::Text, Err(v)) => self.row.text(&v.to_string()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Field<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        if self.plan.drop_nulls {
            return Err(E::custom(GIVE_UP));
        }
        self.row.value(&Value::Null);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.row.value(&Value::Boolean(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.integer(Ok(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.integer(i64::try_from(v).map_err(|_| v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.row.value(&Value::Float64(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.row.text(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.row.text_with(|out| Nested { out }.visit_seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.row.text_with(|out| Nested { out }.visit_map(map))
    }
}

/// A nested value, appended to `out` as the compact JSON text serde_json writes for the
/// `serde_json::Value` the general path builds (same escapes, same number formats).
struct Nested<'o> {
    out: &'o mut Vec<u8>,
}

impl Nested<'_> {
    fn json<T: serde::Serialize + ?Sized, E: serde::de::Error>(self, value: &T) -> Result<(), E> {
        // Writing a string or a number to a `Vec` cannot fail.
        serde_json::to_writer(self.out, value).map_err(|_| E::custom(GIVE_UP))
    }
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.json(&v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.json(&v)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // A `serde_json::Value` holds a non-finite number as null; serde_json writes both as `null`.
        self.json(&v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.json(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let at = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(Nested { out: &mut *self.out })?.is_none() {
                self.out.truncate(at);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: [Range<usize>; FIELDS] = std::array::from_fn(|_| 0..0);
        let mut count = 0;
        self.out.push(b'{');
        while let Some(key) = map.next_key_seed(Key { out: &mut *self.out, first: count == 0 })? {
            // Keys are compared as written: equal names are written the same.
            let repeated = keys[..count].iter().any(|earlier| self.out[earlier.clone()] == self.out[key.clone()]);
            if repeated || count == FIELDS {
                return Err(A::Error::custom(GIVE_UP));
            }
            keys[count] = key;
            count += 1;
            self.out.push(b':');
            map.next_value_seed(Nested { out: &mut *self.out })?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A nested object's key, written as a JSON string after a comma unless it is the first.
struct Key<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Range<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Range<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Range<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Range<usize>, E> {
        if !self.first {
            self.out.push(b',');
        }
        let at = self.out.len();
        serde_json::to_writer(&mut *self.out, key).map_err(|_| E::custom(GIVE_UP))?;
        Ok(at..self.out.len())
    }
}
