//! Header transforms: `InsertHeader` (a literal), `DropHeaders` (by name) and
//! `HeaderFrom$Key` / `$Value` (copy or move fields into headers).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::config::Settings;
use super::record::{ConnectRecord, Data, Header, Part};
use super::schema::{Field, SchemaKind};
use super::values::parse_literal;
use super::{describe, struct_map, take_field, DataError, Touches, Transform};

/// `InsertHeader`: adds header `header` with `value.literal`, typed as Kafka's
/// `Values.parseString` types it (a number, boolean, date... or a string).
#[derive(Debug)]
pub(crate) struct InsertHeader {
    header: String,
    value: Data,
}

impl InsertHeader {
    pub(crate) fn build(settings: &mut Settings) -> anyhow::Result<Self> {
        let header = settings.required("header", "the name of the header to add")?;
        let literal = settings.required("value.literal", "the value of the header")?;
        Ok(InsertHeader { header, value: parse_literal(&literal) })
    }
}

impl Transform for InsertHeader {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        record.headers.push(Header::new(self.header.clone(), self.value.clone()));
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::none()
    }
}

/// `DropHeaders`: removes every header named in `headers`.
#[derive(Debug)]
pub(crate) struct DropHeaders {
    headers: HashSet<String>,
}

impl DropHeaders {
    pub(crate) fn build(settings: &mut Settings) -> anyhow::Result<Self> {
        let headers = settings.required_list("headers", "the names of the headers to remove")?;
        Ok(DropHeaders { headers: headers.into_iter().collect() })
    }
}

impl Transform for DropHeaders {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        record.headers.retain(|h| !self.headers.contains(&h.key));
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::none()
    }
}

/// `HeaderFrom$Key` / `$Value`: adds a header per field (`fields` and `headers` pair up in
/// order) holding the field's value and schema; `operation=move` also removes the fields.
/// Headers are added after the existing ones, even when one of that name exists.
#[derive(Debug)]
pub(crate) struct HeaderFrom {
    part: Part,
    pairs: Vec<(String, String)>,
    remove: bool,
    replace_null_with_default: bool,
}

impl HeaderFrom {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let fields = settings.required_list("fields", "the fields to copy or move into headers")?;
        let headers = settings.required_list("headers", "the header names, in the order of `fields`")?;
        if fields.len() != headers.len() {
            return Err(settings.error_for(
                "headers",
                format!(
                    "'fields' config must have the same number of elements as 'headers' config ({} fields, {} headers)",
                    fields.len(),
                    headers.len()
                ),
            ));
        }
        let remove = settings.choice("operation", &["move", "copy"], None)? == "move";
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(HeaderFrom { part, pairs: fields.into_iter().zip(headers).collect(), remove, replace_null_with_default })
    }

    fn purpose(&self) -> &'static str {
        if self.remove {
            "header move"
        } else {
            "header copy"
        }
    }
}

impl Transform for HeaderFrom {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let data = std::mem::replace(record.part_mut(self.part), Data::null());
        let mut new_headers = Vec::with_capacity(self.pairs.len());
        let updated = match &data.schema {
            None => {
                let Value::Object(mut map) = data.value else {
                    return Err(DataError::new(format!(
                        "Only Map objects supported in absence of schema for [{}], found: {}",
                        self.purpose(),
                        describe(&data.value)
                    )));
                };
                for (field, header) in &self.pairs {
                    let value = map.get(field).cloned().unwrap_or(Value::Null);
                    new_headers.push(Header::new(header.clone(), Data::schemaless(value)));
                }
                if self.remove {
                    for (field, _) in &self.pairs {
                        map.shift_remove(field);
                    }
                }
                Data::schemaless(Value::Object(map))
            }
            Some(schema) => {
                let mut map = struct_map(schema, data.value, self.purpose(), self.replace_null_with_default)?;
                let fields = schema.fields();
                for (i, (name, header)) in self.pairs.iter().enumerate() {
                    let field = fields.iter().find(|f| f.name == *name).ok_or_else(|| {
                        DataError::field(
                            name.clone(),
                            format!(
                                "field `{name}` is not in the {} schema (its fields are: {})",
                                self.part.name(),
                                fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })?;
                    // A moved field is taken at its last mention; earlier ones (and copies) clone it.
                    let last = !self.pairs[i + 1..].iter().any(|(n, _)| n == name);
                    let value = if self.remove && last {
                        take_field(&mut map, name)
                    } else {
                        map.get(name).cloned().unwrap_or(Value::Null)
                    };
                    new_headers.push(Header::new(header.clone(), Data::new(Some(field.schema.clone()), value)));
                }
                if self.remove {
                    let kept: Vec<Field> =
                        fields.iter().filter(|f| !self.pairs.iter().any(|(n, _)| *n == f.name)).cloned().collect();
                    let mut out = Map::new();
                    for field in &kept {
                        out.insert(field.name.clone(), take_field(&mut map, &field.name));
                    }
                    Data::new(Some(schema.basics_with(SchemaKind::Struct(kept))), Value::Object(out))
                } else {
                    Data::new(data.schema.clone(), Value::Object(map))
                }
            }
        };
        *record.part_mut(self.part) = updated;
        record.headers.extend(new_headers);
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transforms::schema::{Field, Schema};
    use crate::transforms::test_support::{apply_one, config_error, record, record_with_key, record_with_value};

    fn string() -> Schema {
        Schema::new(SchemaKind::String)
    }

    // InsertHeaderTest.insertionWithExistingOtherHeader / insertionWithExistingSameHeader /
    // insertionWithByteHeader: headers are appended, and "1" is an INT8 header.
    #[test]
    fn insert_header() {
        let mut r = record();
        r.headers.push(Header::new("inserted", Data::new(Some(string()), json!("existing-value"))));
        let out = apply_one(
            "org.apache.kafka.connect.transforms.InsertHeader",
            &[("header", "inserted"), ("value.literal", "inserted-value")],
            r,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out.headers,
            vec![
                Header::new("inserted", Data::new(Some(string()), json!("existing-value"))),
                Header::new("inserted", Data::new(Some(string()), json!("inserted-value"))),
            ]
        );
        let out = apply_one(
            "org.apache.kafka.connect.transforms.InsertHeader",
            &[("header", "inserted"), ("value.literal", "1")],
            record(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out.headers,
            vec![Header::new("inserted", Data::new(Some(Schema::new(SchemaKind::Int8)), json!(1)))]
        );
    }

    // InsertHeaderTest.configRejectsNullHeaderKey / configRejectsNullHeaderValue.
    #[test]
    fn insert_header_needs_both_settings() {
        let base = [("transforms", "h"), ("transforms.h.type", "org.apache.kafka.connect.transforms.InsertHeader")];
        let missing_value = config_error(&[base[0], base[1], ("transforms.h.header", "x")]);
        assert!(missing_value.contains("`transforms.h.value.literal`"), "{missing_value}");
        let missing_header = config_error(&[base[0], base[1], ("transforms.h.value.literal", "x")]);
        assert!(missing_header.contains("`transforms.h.header`"), "{missing_header}");
    }

    // DropHeadersTest.dropExistingHeader / dropExistingHeaderWithMultipleValues /
    // dropNonExistingHeader.
    #[test]
    fn drop_headers() {
        let mut r = record();
        for key in ["dont-drop-me", "drop-me", "drop-me", "other"] {
            r.headers.push(Header::new(key, Data::new(Some(string()), json!(key))));
        }
        let out =
            apply_one("org.apache.kafka.connect.transforms.DropHeaders", &[("headers", "drop-me, other, absent")], r)
                .unwrap()
                .unwrap();
        assert_eq!(out.headers, vec![Header::new("dont-drop-me", Data::new(Some(string()), json!("dont-drop-me")))]);
    }

    // HeaderFromTest "basic copy", "basic move", "move with preexisting header", with a schema
    // and without.
    #[test]
    fn header_from_copy_and_move() {
        let schema = Schema::structure(vec![Field::new("field1", string()), Field::new("field2", string())]);
        let value = json!({"field1": "field1-value", "field2": "field2-value"});
        let existing = Header::new("inserted1", Data::new(Some(string()), json!("existing-value")));
        for operation in ["copy", "move"] {
            let mut r = record_with_value(Data::new(Some(schema.clone()), value.clone()));
            r.headers.push(existing.clone());
            let out = apply_one(
                "org.apache.kafka.connect.transforms.HeaderFrom$Value",
                &[("fields", "field1"), ("headers", "inserted1"), ("operation", operation)],
                r,
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                out.headers,
                vec![existing.clone(), Header::new("inserted1", Data::new(Some(string()), json!("field1-value")))]
            );
            if operation == "copy" {
                assert_eq!(out.value, Data::new(Some(schema.clone()), value.clone()));
            } else {
                let moved = Schema::structure(vec![Field::new("field2", string())]);
                assert_eq!(out.value, Data::new(Some(moved), json!({"field2": "field2-value"})));
            }
        }
        let out = apply_one(
            "org.apache.kafka.connect.transforms.HeaderFrom$Key",
            &[("fields", "field1,absent"), ("headers", "h1,h2"), ("operation", "move")],
            record_with_key(Data::schemaless(value)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.key, Data::schemaless(json!({"field2": "field2-value"})));
        assert_eq!(
            out.headers,
            vec![Header::new("h1", Data::schemaless(json!("field1-value"))), Header::new("h2", Data::null())]
        );
    }

    #[test]
    fn header_from_missing_schema_field_is_named() {
        let schema = Schema::structure(vec![Field::new("field1", string())]);
        let error = apply_one(
            "org.apache.kafka.connect.transforms.HeaderFrom$Value",
            &[("fields", "nope"), ("headers", "h"), ("operation", "copy")],
            record_with_value(Data::new(Some(schema), json!({"field1": "x"}))),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("nope"));
    }

    // HeaderFromTest.invalidConfigExtraHeaderConfig / invalidConfigExtraFieldConfig /
    // invalidConfigEmptyHeadersAndFieldsConfig.
    #[test]
    fn header_from_config_errors() {
        let error = |fields: &str, headers: &str| {
            config_error(&[
                ("transforms", "h"),
                ("transforms.h.type", "org.apache.kafka.connect.transforms.HeaderFrom$Value"),
                ("transforms.h.fields", fields),
                ("transforms.h.headers", headers),
                ("transforms.h.operation", "copy"),
            ])
        };
        assert!(error("a", "h1,h2").contains("same number of elements"));
        assert!(error("a,b", "h1").contains("same number of elements"));
        assert!(error("", "").contains("`transforms.h.fields`"));
        let bad_operation = config_error(&[
            ("transforms", "h"),
            ("transforms.h.type", "org.apache.kafka.connect.transforms.HeaderFrom$Value"),
            ("transforms.h.fields", "a"),
            ("transforms.h.headers", "b"),
            ("transforms.h.operation", "Move"),
        ]);
        assert!(
            bad_operation.contains("`transforms.h.operation`") && bad_operation.contains("`move`"),
            "{bad_operation}"
        );
    }
}
