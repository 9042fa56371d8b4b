//! Transforms that edit the fields of a key or value (a `Struct` with a schema, a `Map`
//! without): `InsertField`, `ReplaceField`, `MaskField`, `ExtractField`, `HoistField`,
//! `ValueToKey` and `Flatten`. Struct field order is kept; new fields go last.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::config::Settings;
use super::record::{ConnectRecord, Data, Part};
use super::schema::{Field, Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};
use super::values::{base64_encode, f32_json, f64_json, BigDec};
use super::{
    describe, require_map, require_struct, struct_field_value, struct_map, take_field, DataError, Touches, Transform,
};

/// Takes the key or value out of the record, to put a new one back.
fn take(record: &mut ConnectRecord, part: Part) -> Data {
    std::mem::replace(record.part_mut(part), Data::null())
}

/// A struct schema with `fields`, refusing a name used twice (Kafka's `SchemaBuilder` does).
fn struct_with(basics: &Schema, fields: Vec<Field>) -> Result<Schema, DataError> {
    let mut seen = HashSet::new();
    for field in &fields {
        if !seen.insert(field.name.as_str()) {
            return Err(DataError::field(
                field.name.clone(),
                format!("Cannot create field because of field name duplication {}", field.name),
            ));
        }
    }
    Ok(basics.basics_with(SchemaKind::Struct(fields)))
}

/// `InsertField$Key` / `$Value`: adds the topic, partition, offset, timestamp and/or a static
/// string. A null key or value (a tombstone) passes unchanged.
#[derive(Debug)]
pub(crate) struct InsertField {
    part: Part,
    topic: Option<Insertion>,
    partition: Option<Insertion>,
    offset: Option<Insertion>,
    timestamp: Option<Insertion>,
    static_field: Option<Insertion>,
    static_value: String,
    replace_null_with_default: bool,
}

/// A field to insert: `name` (optional, the default), `name?` (optional) or `name!` (required).
#[derive(Debug)]
struct Insertion {
    name: String,
    optional: bool,
}

impl Insertion {
    fn parse(spec: Option<String>) -> Option<Insertion> {
        let spec = spec?;
        Some(if let Some(name) = spec.strip_suffix('?') {
            Insertion { name: name.into(), optional: true }
        } else if let Some(name) = spec.strip_suffix('!') {
            Insertion { name: name.into(), optional: false }
        } else {
            Insertion { name: spec, optional: true }
        })
    }

    fn schema(&self, schema: Schema) -> Schema {
        if self.optional {
            schema.optional()
        } else {
            schema
        }
    }
}

impl InsertField {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let topic = Insertion::parse(settings.string("topic.field"));
        let partition = Insertion::parse(settings.string("partition.field"));
        let offset = Insertion::parse(settings.string("offset.field"));
        let timestamp = Insertion::parse(settings.string("timestamp.field"));
        let static_field = Insertion::parse(settings.string("static.field"));
        let static_value = settings.string("static.value");
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        if [&topic, &partition, &offset, &timestamp, &static_field].iter().all(|f| f.is_none()) {
            return Err(settings.alias_error(
                "no field insertion configured: set at least one of topic.field, partition.field, offset.field, \
                 timestamp.field, static.field",
            ));
        }
        let static_value = match (&static_field, static_value) {
            (Some(field), None) => {
                return Err(settings.error_for(
                    "static.value",
                    format!("no value specified for static field `{}`; set the value to insert", field.name),
                ))
            }
            (_, value) => value.unwrap_or_default(),
        };
        Ok(InsertField {
            part,
            topic,
            partition,
            offset,
            timestamp,
            static_field,
            static_value,
            replace_null_with_default,
        })
    }

    /// The inserted fields with their schemas and values for `record`.
    fn insertions(&self, record: &ConnectRecord, with_schema: bool) -> Vec<(&Insertion, Schema, Value)> {
        let mut out = Vec::new();
        if let Some(field) = &self.topic {
            out.push((field, field.schema(Schema::new(SchemaKind::String)), Value::from(record.topic.clone())));
        }
        if let Some(field) = &self.partition {
            out.push((field, field.schema(Schema::new(SchemaKind::Int32)), Value::from(record.partition)));
        }
        if let Some(field) = &self.offset {
            out.push((field, field.schema(Schema::new(SchemaKind::Int64)), Value::from(record.offset)));
        }
        if let Some(field) = &self.timestamp {
            // Without a schema Kafka inserts the timestamp only when the record has one.
            if with_schema || record.timestamp_ms.is_some() {
                out.push((
                    field,
                    field.schema(Schema::timestamp()),
                    record.timestamp_ms.map_or(Value::Null, Value::from),
                ));
            }
        }
        if let Some(field) = &self.static_field {
            out.push((field, field.schema(Schema::new(SchemaKind::String)), Value::from(self.static_value.clone())));
        }
        out
    }
}

impl Transform for InsertField {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        if record.part(self.part).is_null() {
            return Ok(Some(record));
        }
        let data = take(&mut record, self.part);
        let updated = match &data.schema {
            None => {
                let mut map = require_map(data.value, "field insertion")?;
                for (field, _, value) in self.insertions(&record, false) {
                    map.insert(field.name.clone(), value);
                }
                Data::schemaless(Value::Object(map))
            }
            Some(schema) => {
                let mut map = struct_map(schema, data.value, "field insertion", self.replace_null_with_default)?;
                let mut new_fields = schema.fields().to_vec();
                for (field, field_schema, value) in self.insertions(&record, true) {
                    new_fields.push(Field::new(field.name.clone(), field_schema));
                    map.insert(field.name.clone(), value);
                }
                Data::new(Some(struct_with(schema, new_fields)?), Value::Object(map))
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// `ReplaceField$Key` / `$Value`: keeps (`include`, formerly `whitelist`) or drops (`exclude`,
/// formerly `blacklist`) fields and renames them (`renames=old:new,..`). `exclude` wins over
/// `include`. A null key or value passes unchanged.
#[derive(Debug)]
pub(crate) struct ReplaceField {
    part: Part,
    exclude: HashSet<String>,
    include: HashSet<String>,
    renames: Vec<(String, String)>,
    replace_null_with_default: bool,
}

impl ReplaceField {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        // The deprecated names are read only when the new ones are absent, as Kafka does.
        let exclude = settings.list("exclude");
        let blacklist = settings.list("blacklist");
        let include = settings.list("include");
        let whitelist = settings.list("whitelist");
        let mut renames = Vec::new();
        for mapping in settings.list("renames").unwrap_or_default() {
            match mapping.split(':').collect::<Vec<_>>().as_slice() {
                [old, new] if !new.is_empty() => renames.push((old.to_string(), new.to_string())),
                _ => {
                    return Err(settings.error_for(
                        "renames",
                        format!("invalid rename mapping `{mapping}`: expected `old:new` pairs, e.g. foo:bar,abc:xyz"),
                    ))
                }
            }
        }
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(ReplaceField {
            part,
            exclude: exclude.or(blacklist).unwrap_or_default().into_iter().collect(),
            include: include.or(whitelist).unwrap_or_default().into_iter().collect(),
            renames,
            replace_null_with_default,
        })
    }

    fn keeps(&self, name: &str) -> bool {
        !self.exclude.contains(name) && (self.include.is_empty() || self.include.contains(name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.iter().rev().find(|(old, _)| old == name).map_or(name, |(_, new)| new.as_str())
    }
}

impl Transform for ReplaceField {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        if record.part(self.part).is_null() {
            return Ok(Some(record));
        }
        let data = take(&mut record, self.part);
        let updated = match &data.schema {
            None => {
                let map = require_map(data.value, "field replacement")?;
                let kept = map
                    .into_iter()
                    .filter(|(name, _)| self.keeps(name))
                    .map(|(name, value)| (self.renamed(&name).to_string(), value))
                    .collect();
                Data::schemaless(Value::Object(kept))
            }
            Some(schema) => {
                let mut old = struct_map(schema, data.value, "field replacement", self.replace_null_with_default)?;
                let mut new_fields = Vec::new();
                let mut map = Map::new();
                for field in schema.fields().iter().filter(|f| self.keeps(&f.name)) {
                    let name = self.renamed(&field.name).to_string();
                    map.insert(name.clone(), take_field(&mut old, &field.name));
                    new_fields.push(Field::new(name, field.schema.clone()));
                }
                Data::new(Some(struct_with(schema, new_fields)?), Value::Object(map))
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// `MaskField$Key` / `$Value`: replaces `fields` with their type's empty value (0, false, "",
/// empty array or map) or with `replacement` converted to the field's type (numbers and
/// strings only). Like Kafka, a null (tombstone) key or value is an error, and a masked field
/// missing from a schemaless map is added as null.
#[derive(Debug)]
pub(crate) struct MaskField {
    part: Part,
    fields: Vec<String>,
    replacement: Option<String>,
    replace_null_with_default: bool,
}

impl MaskField {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let fields = settings.required_list("fields", "the names of the fields to mask")?;
        let replacement = settings.string("replacement");
        if replacement.as_deref() == Some("") {
            return Err(settings.error_for("replacement", "must not be empty; remove it to mask with empty values"));
        }
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(MaskField { part, fields, replacement, replace_null_with_default })
    }

    fn replacement_number(&self, field: &str) -> Result<BigDec, DataError> {
        let replacement = self.replacement.as_deref().unwrap_or_default();
        BigDec::parse(replacement)
            .ok_or_else(|| DataError::field(field, format!("Unable to convert {replacement} (a string) to a number")))
    }

    /// Masks a schemaless value by its JSON type.
    fn mask_schemaless(&self, field: &str, value: &Value) -> Result<Value, DataError> {
        let integer = |v: &Value| v.as_i64().is_some() || v.as_u64().is_some();
        Ok(match (&self.replacement, value) {
            (_, Value::Null) => Value::Null,
            (None, Value::Bool(_)) => Value::Bool(false),
            (None, Value::Number(_)) if integer(value) => Value::from(0),
            (None, Value::Number(_)) => Value::from(0.0),
            (None, Value::String(_)) => Value::from(""),
            (None, Value::Array(_)) => Value::Array(Vec::new()),
            (None, Value::Object(_)) => Value::Object(Map::new()),
            (Some(_), Value::Number(_)) if integer(value) => {
                Value::from(self.replacement_number(field)?.to_i64_wrapping())
            }
            (Some(_), Value::Number(_)) => {
                f64_json(self.replacement_number(field)?.to_f64()).map_err(|e| DataError::field(field, e))?
            }
            (Some(replacement), Value::String(_)) => Value::from(replacement.clone()),
            (Some(_), other) => {
                return Err(DataError::field(
                    field,
                    format!("Cannot mask value of type {} with custom replacement", describe(other)),
                ))
            }
        })
    }

    /// Masks a value by its schema.
    fn mask_with_schema(&self, field: &str, schema: &Schema, value: &Value) -> Result<Value, DataError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let refuse = |what: &str| {
            Err(DataError::field(
                field,
                if self.replacement.is_some() {
                    format!(
                        "Cannot mask value of type {what} with custom replacement (only numbers and strings take one)"
                    )
                } else {
                    format!("Cannot mask value of type {what}")
                },
            ))
        };
        match schema.logical() {
            Some(DECIMAL) => {
                let scale = schema.decimal_scale().map_err(|e| DataError::field(field, e))?;
                let number = match &self.replacement {
                    None => BigDec { unscaled: 0, scale },
                    Some(replacement) => self.replacement_number(field)?.rescale(scale).ok_or_else(|| {
                        DataError::field(
                            field,
                            format!("replacement {replacement} does not fit a Decimal of scale {scale}"),
                        )
                    })?,
                };
                return Ok(Value::from(base64_encode(&number.to_bytes())));
            }
            Some(DATE) | Some(TIME) | Some(TIMESTAMP) => {
                return match self.replacement {
                    None => Ok(Value::from(0)),
                    Some(_) => refuse("java.util.Date"),
                }
            }
            _ => {}
        }
        let integer = |bits: u32| -> Result<Value, DataError> {
            let Some(_) = &self.replacement else { return Ok(Value::from(0)) };
            let wide = self.replacement_number(field)?.to_i64_wrapping();
            Ok(Value::from(match bits {
                8 => i64::from(wide as i8),
                16 => i64::from(wide as i16),
                32 => i64::from(wide as i32),
                _ => wide,
            }))
        };
        match &schema.kind {
            SchemaKind::Boolean if self.replacement.is_none() => Ok(Value::Bool(false)),
            SchemaKind::Boolean => refuse("boolean"),
            SchemaKind::Int8 => integer(8),
            SchemaKind::Int16 => integer(16),
            SchemaKind::Int32 => integer(32),
            SchemaKind::Int64 => integer(64),
            SchemaKind::Float32 => match &self.replacement {
                None => Ok(Value::from(0.0)),
                Some(_) => {
                    f32_json(self.replacement_number(field)?.to_f64() as f32).map_err(|e| DataError::field(field, e))
                }
            },
            SchemaKind::Float64 => match &self.replacement {
                None => Ok(Value::from(0.0)),
                Some(_) => f64_json(self.replacement_number(field)?.to_f64()).map_err(|e| DataError::field(field, e)),
            },
            SchemaKind::String => Ok(Value::from(self.replacement.clone().unwrap_or_default())),
            SchemaKind::Array(_) if self.replacement.is_none() => Ok(Value::Array(Vec::new())),
            SchemaKind::Map(keys, _) if self.replacement.is_none() => {
                Ok(if keys.kind == SchemaKind::String { Value::Object(Map::new()) } else { Value::Array(Vec::new()) })
            }
            kind => refuse(kind.kafka_name()),
        }
    }
}

impl Transform for MaskField {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let Data { schema, value } = take(&mut record, self.part);
        let updated = match schema {
            None => {
                let mut map = require_map(value, "mask fields")?;
                for field in &self.fields {
                    let masked = self.mask_schemaless(field, map.get(field).unwrap_or(&Value::Null))?;
                    map.insert(field.clone(), masked);
                }
                Data::schemaless(Value::Object(map))
            }
            Some(schema) => {
                let mut map = struct_map(&schema, value, "mask fields", self.replace_null_with_default)?;
                for field in schema.fields().iter().filter(|f| self.fields.contains(&f.name)) {
                    let masked = self.mask_with_schema(
                        &field.name,
                        &field.schema,
                        map.get(&field.name).unwrap_or(&Value::Null),
                    )?;
                    map.insert(field.name.clone(), masked);
                }
                Data::new(Some(schema), Value::Object(map))
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// Splits a `field.syntax.version=V2` path: dots separate steps, a step in backticks may
/// contain dots, and a backslash before a closing backtick keeps it in the name.
pub(crate) fn parse_path_v2(path: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = path.chars().collect();
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let mut steps = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        if chars[idx] != '`' {
            match chars[idx..].iter().position(|c| *c == '.') {
                Some(offset) => {
                    steps.push(text(idx, idx + offset));
                    idx += offset + 1;
                }
                None => {
                    steps.push(text(idx, chars.len()));
                    idx = chars.len();
                }
            }
            continue;
        }
        let opened_at = idx;
        let incomplete = || {
            format!(
                "Incomplete backtick pair in path: [{path}], consider adding a backslash before backtick at position \
                 {opened_at} to escape it"
            )
        };
        idx += 1;
        let mut start = idx;
        let mut step = String::new();
        loop {
            let close = idx + chars[idx..].iter().position(|c| *c == '`').ok_or_else(incomplete)?;
            let escaped = chars[close - 1] == '\\';
            if close + 1 >= chars.len() {
                if escaped {
                    return Err(incomplete());
                }
                step.push_str(&text(start, close));
                steps.push(step);
                idx = close + 1;
                break;
            }
            if chars[close + 1] != '.' {
                idx = close + 1;
                continue;
            }
            if escaped {
                step.push_str(&text(start, close - 1));
                step.push('`');
                idx = close + 1;
                start = idx;
                continue;
            }
            step.push_str(&text(start, close));
            steps.push(step);
            idx = close + 2;
            break;
        }
    }
    if path.ends_with('.') {
        steps.push(String::new());
    }
    Ok(steps)
}

/// `ExtractField$Key` / `$Value`: replaces the key or value with one of its fields (a nested
/// one with `field.syntax.version=V2`). Null passes as null; a field missing from a schemaless
/// map gives null, one missing from a schema is an error.
#[derive(Debug)]
pub(crate) struct ExtractField {
    part: Part,
    path: String,
    steps: Vec<String>,
    replace_null_with_default: bool,
}

impl ExtractField {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let path = settings.required("field", "the name of the field to extract")?;
        let version = settings.string_or("field.syntax.version", "V1");
        let steps = match version.to_ascii_uppercase().as_str() {
            "V1" => vec![path.clone()],
            "V2" => parse_path_v2(&path).map_err(|e| settings.error_for("field", e))?,
            _ => {
                return Err(settings
                    .error_for("field.syntax.version", format!("unrecognized version {version:?}; use V1 or V2")))
            }
        };
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(ExtractField { part, path, steps, replace_null_with_default })
    }

    fn field_in<'a>(&self, schema: &'a Schema) -> Option<&'a Field> {
        let (last, parents) = self.steps.split_last()?;
        let mut current = schema;
        for step in parents {
            current = &current.field(step)?.schema;
        }
        current.field(last)
    }
}

impl Transform for ExtractField {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let data = take(&mut record, self.part);
        let updated = match &data.schema {
            None => {
                let mut current = match data.value {
                    Value::Null => Value::Null,
                    other => Value::Object(require_map(other, "field extraction")?),
                };
                for step in &self.steps {
                    current = match current {
                        Value::Null => Value::Null,
                        Value::Object(mut map) => map.remove(step).unwrap_or(Value::Null),
                        other => {
                            return Err(DataError::field(
                                self.path.clone(),
                                format!(
                                "Only Map objects supported in absence of schema for [nested field access], found: {}",
                                describe(&other)
                            ),
                            ))
                        }
                    };
                }
                Data::schemaless(if self.steps.is_empty() { Value::Null } else { current })
            }
            Some(schema) => {
                let field = self.field_in(schema).ok_or_else(|| {
                    let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
                    DataError::field(
                        self.path.clone(),
                        format!("Unknown field: {} (the schema's fields are: {})", self.path, names.join(", ")),
                    )
                })?;
                let mut current = data.value;
                let mut current_schema = schema;
                for step in &self.steps {
                    if current.is_null() {
                        break;
                    }
                    let mut map =
                        struct_map(current_schema, current, "field extraction", self.replace_null_with_default)?;
                    current = take_field(&mut map, step);
                    current_schema = &current_schema.field(step).expect("field_in found every step").schema;
                }
                Data::new(Some(field.schema.clone()), current)
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// `HoistField$Key` / `$Value`: wraps the whole key or value in a struct (with a schema) or a
/// map (without) under one field.
#[derive(Debug)]
pub(crate) struct HoistField {
    part: Part,
    field: String,
}

impl HoistField {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let field = settings.required("field", "the name of the field that will hold the original data")?;
        Ok(HoistField { part, field })
    }
}

impl Transform for HoistField {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let data = take(&mut record, self.part);
        let mut map = Map::new();
        let updated = match data.schema {
            None => {
                map.insert(self.field.clone(), data.value);
                Data::schemaless(Value::Object(map))
            }
            Some(schema) => {
                if data.value.is_null() && !schema.optional {
                    return Err(DataError::field(
                        self.field.clone(),
                        format!(
                            "Invalid value: null used for required field: \"{}\", schema type: {}",
                            self.field,
                            schema.kind.kafka_name()
                        ),
                    ));
                }
                map.insert(self.field.clone(), data.value);
                Data::new(Some(Schema::structure(vec![Field::new(self.field.clone(), schema)])), Value::Object(map))
            }
        };
        *record.part_mut(self.part) = updated;
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::part(self.part)
    }
}

/// `ValueToKey`: replaces the key with a struct (with a schema) or map (without) of `fields`
/// taken from the value.
#[derive(Debug)]
pub(crate) struct ValueToKey {
    fields: Vec<String>,
    replace_null_with_default: bool,
}

impl ValueToKey {
    pub(crate) fn build(settings: &mut Settings) -> anyhow::Result<Self> {
        let fields = settings.required_list("fields", "the value fields that form the key")?;
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        Ok(ValueToKey { fields, replace_null_with_default })
    }
}

impl Transform for ValueToKey {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let mut key = Map::new();
        let key_schema = match &record.value.schema {
            None => {
                let Value::Object(value) = &record.value.value else {
                    return Err(DataError::new(format!(
                        "Only Map objects supported in absence of schema for [copying fields from value to key], found: {}",
                        describe(&record.value.value)
                    )));
                };
                for field in &self.fields {
                    key.insert(field.clone(), value.get(field).cloned().unwrap_or(Value::Null));
                }
                None
            }
            Some(schema) => {
                let (fields, value) = require_struct(schema, &record.value.value, "copying fields from value to key")?;
                let mut key_fields = Vec::new();
                for name in &self.fields {
                    let field = fields
                        .iter()
                        .find(|f| f.name == *name)
                        .ok_or_else(|| DataError::field(name.clone(), format!("Field does not exist: {name}")))?;
                    key_fields.push(field.clone());
                    key.insert(name.clone(), struct_field_value(value, field, self.replace_null_with_default));
                }
                Some(struct_with(&Schema::structure(Vec::new()), key_fields)?)
            }
        };
        record.key = Data::new(key_schema, Value::Object(key));
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::both()
    }
}

/// `Flatten$Key` / `$Value`: lifts nested structs (with a schema) or maps (without) to the top
/// level, joining names with `delimiter` (default `.`). Arrays are kept as they are; a map
/// inside a struct is an error. A null key or value passes unchanged.
#[derive(Debug)]
pub(crate) struct Flatten {
    part: Part,
    delimiter: String,
}

impl Flatten {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let delimiter = settings.string_or("delimiter", ".");
        Ok(Flatten { part, delimiter })
    }

    fn name(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}{}{name}", self.delimiter)
        }
    }

    fn flatten_map(&self, map: Map<String, Value>, prefix: &str, out: &mut Map<String, Value>) {
        for (key, value) in map {
            let name = self.name(prefix, &key);
            match value {
                Value::Object(inner) => self.flatten_map(inner, &name, out),
                other => {
                    out.insert(name, other);
                }
            }
        }
    }

    /// The flattened fields of `schema`: optional when any ancestor is, with the default the
    /// field or an ancestor's default gives.
    fn flatten_schema(
        &self,
        fields: &[Field],
        prefix: &str,
        optional: bool,
        parent_default: Option<&Map<String, Value>>,
        out: &mut Vec<Field>,
    ) -> Result<(), DataError> {
        for field in fields {
            let name = self.name(prefix, &field.name);
            let field_optional = optional || field.schema.optional;
            let default = field
                .schema
                .default
                .clone()
                .or_else(|| parent_default.and_then(|d| d.get(&field.name)).filter(|v| !v.is_null()).cloned());
            match &field.schema.kind {
                SchemaKind::Struct(inner) => {
                    self.flatten_schema(inner, &name, field_optional, default.as_ref().and_then(Value::as_object), out)?
                }
                SchemaKind::Map(..) => {
                    return Err(DataError::field(
                        name.clone(),
                        format!(
                            "Flatten transformation does not support MAP for record with schemas (for field {name})"
                        ),
                    ))
                }
                _ => {
                    let mut schema = field.schema.clone();
                    schema.optional = field_optional;
                    schema.default = default;
                    out.push(Field::new(name, schema));
                }
            }
        }
        Ok(())
    }

    fn flatten_struct(
        &self,
        fields: &[Field],
        mut object: Option<Map<String, Value>>,
        prefix: &str,
        out: &mut Map<String, Value>,
    ) {
        for field in fields {
            let name = self.name(prefix, &field.name);
            let value = match object.as_mut().map(|o| take_field(o, &field.name)) {
                Some(Value::Null) | None => field.schema.default.clone().unwrap_or(Value::Null),
                Some(value) => value,
            };
            match &field.schema.kind {
                SchemaKind::Struct(inner) => {
                    let inner_object = match value {
                        Value::Object(map) => Some(map),
                        _ => None,
                    };
                    self.flatten_struct(inner, inner_object, &name, out)
                }
                _ => {
                    out.insert(name, value);
                }
            }
        }
    }
}

impl Transform for Flatten {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        if record.part(self.part).is_null() {
            return Ok(Some(record));
        }
        let data = take(&mut record, self.part);
        let updated = match &data.schema {
            None => {
                let map = require_map(data.value, "flattening")?;
                let mut out = Map::new();
                self.flatten_map(map, "", &mut out);
                Data::schemaless(Value::Object(out))
            }
            Some(schema) => {
                let object = struct_map(schema, data.value, "flattening", true)?;
                let mut flat_fields = Vec::new();
                let top_default = schema.default.as_ref().and_then(Value::as_object);
                self.flatten_schema(schema.fields(), "", schema.optional, top_default, &mut flat_fields)?;
                let flat_schema = struct_with(schema, flat_fields)?;
                let mut out = Map::new();
                self.flatten_struct(schema.fields(), Some(object), "", &mut out);
                // A field left null (its parent struct was null) reads as its flattened default.
                for field in flat_schema.fields() {
                    if out.get(&field.name).is_none_or(Value::is_null) {
                        out.insert(field.name.clone(), field.schema.default.clone().unwrap_or(Value::Null));
                    }
                }
                Data::new(Some(flat_schema), Value::Object(out))
            }
        };
        *record.part_mut(self.part) = updated;
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
    use crate::transforms::test_support::{apply_one, config_error, record, record_with_key, record_with_value};

    const T: &str = "org.apache.kafka.connect.transforms.";

    fn value_of(class: &str, settings: &[(&str, &str)], value: Data) -> Data {
        apply_one(&format!("{T}{class}"), settings, record_with_value(value)).unwrap().unwrap().value
    }

    fn s(kind: SchemaKind) -> Schema {
        Schema::new(kind)
    }

    // InsertFieldTest.schemalessInsertConfiguredFields.
    #[test]
    fn insert_field_schemaless() {
        let settings = [
            ("topic.field", "topic_field!"),
            ("partition.field", "partition_field"),
            ("timestamp.field", "timestamp_field?"),
            ("static.field", "instance_id"),
            ("static.value", "my-instance-id"),
            ("offset.field", "offset_field"),
        ];
        let mut r = record_with_value(Data::schemaless(json!({"magic": 42})));
        r.timestamp_ms = Some(123);
        let out = apply_one(&format!("{T}InsertField$Value"), &settings, r).unwrap().unwrap();
        assert_eq!(
            out.value,
            Data::schemaless(json!({"magic": 42, "topic_field": "test", "partition_field": 0, "offset_field": 42,
                                    "timestamp_field": 123, "instance_id": "my-instance-id"}))
        );
    }

    // InsertFieldTest.copySchemaAndInsertConfiguredFields: the name, version and doc stay; `!`
    // makes a required field, others are optional; the timestamp is a Timestamp.
    #[test]
    fn insert_field_with_schema() {
        let settings = [
            ("topic.field", "topic_field!"),
            ("partition.field", "partition_field"),
            ("timestamp.field", "timestamp_field?"),
            ("static.field", "instance_id"),
            ("static.value", "my-instance-id"),
        ];
        let mut schema =
            Schema::structure(vec![Field::new("magic", s(SchemaKind::Int64).optional())]).named("name").with_version(1);
        schema.doc = Some("doc".into());
        let mut r = record_with_value(Data::new(Some(schema), json!({"magic": 42})));
        r.timestamp_ms = Some(789);
        let out = apply_one(&format!("{T}InsertField$Value"), &settings, r).unwrap().unwrap().value;
        let out_schema = out.schema.unwrap();
        assert_eq!(
            (out_schema.name.as_deref(), out_schema.version, out_schema.doc.as_deref()),
            (Some("name"), Some(1), Some("doc"))
        );
        assert_eq!(out_schema.field("topic_field").unwrap().schema, s(SchemaKind::String));
        assert_eq!(out_schema.field("partition_field").unwrap().schema, s(SchemaKind::Int32).optional());
        assert_eq!(out_schema.field("timestamp_field").unwrap().schema, Schema::timestamp().optional());
        assert_eq!(out_schema.field("instance_id").unwrap().schema, s(SchemaKind::String).optional());
        assert_eq!(
            out.value,
            json!({"magic": 42, "topic_field": "test", "partition_field": 0, "timestamp_field": 789,
                   "instance_id": "my-instance-id"})
        );
    }

    // InsertFieldTest.insertConfiguredFieldsIntoTombstoneEvent*LeavesValueUnchanged and
    // topLevelStructRequired.
    #[test]
    fn insert_field_tombstone_passes_and_primitive_is_refused() {
        let settings = [("topic.field", "topic_field")];
        assert_eq!(value_of("InsertField$Value", &settings, Data::null()), Data::null());
        let schema = Schema::structure(vec![Field::new("magic", s(SchemaKind::Int64).optional())]);
        let tombstone = Data::new(Some(schema), Value::Null);
        assert_eq!(value_of("InsertField$Value", &settings, tombstone.clone()), tombstone);
        let error = apply_one(
            &format!("{T}InsertField$Value"),
            &settings,
            record_with_value(Data::new(Some(s(SchemaKind::Int32)), json!(42))),
        )
        .unwrap_err();
        assert!(error.message.contains("Only Struct objects supported for [field insertion]"), "{error}");
    }

    // InsertFieldTest.testUnsetOptionalField: a null field with a default copies as the default,
    // or as null with replace.null.with.default=false.
    #[test]
    fn insert_field_replace_null_with_default() {
        let schema =
            Schema::structure(vec![Field::new("magic", s(SchemaKind::Int64).optional().with_default(json!(42)))]);
        let data = Data::new(Some(schema), json!({"magic": null}));
        let on = value_of("InsertField$Value", &[("topic.field", "t")], data.clone());
        assert_eq!(on.value["magic"], json!(42));
        let off = value_of("InsertField$Value", &[("topic.field", "t"), ("replace.null.with.default", "false")], data);
        assert_eq!(off.value["magic"], Value::Null);
    }

    #[test]
    fn insert_field_config_errors() {
        let none = config_error(&[
            ("transforms", "i"),
            ("transforms.i.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
        ]);
        assert!(none.contains("transforms.i") && none.contains("no field insertion configured"), "{none}");
        let no_value = config_error(&[
            ("transforms", "i"),
            ("transforms.i.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
            ("transforms.i.static.field", "x"),
        ]);
        assert!(no_value.contains("`transforms.i.static.value`"), "{no_value}");
    }

    // ReplaceFieldTest.schemaless: exclude dabc, include abc/foo, rename abc→xyz, foo→bar.
    #[test]
    fn replace_field_schemaless() {
        let settings = [("exclude", "dont"), ("renames", "abc:xyz,foo:bar")];
        let out = value_of(
            "ReplaceField$Value",
            &settings,
            Data::schemaless(json!({"dont": "whatever", "abc": 42, "foo": true, "etc": "etc"})),
        );
        assert_eq!(out, Data::schemaless(json!({"xyz": 42, "bar": true, "etc": "etc"})));
        // ReplaceFieldTest.testIncludeFields: include keeps only the listed fields.
        let out = value_of("ReplaceField$Value", &[("include", "abc")], Data::schemaless(json!({"abc": 1, "foo": 2})));
        assert_eq!(out, Data::schemaless(json!({"abc": 1})));
    }

    // ReplaceFieldTest.withSchema: include dont,abc,foo + exclude dont → abc, foo renamed.
    #[test]
    fn replace_field_with_schema_exclude_wins_over_include() {
        let settings = [("include", "abc,foo,dont"), ("exclude", "dont"), ("renames", "abc:xyz,foo:bar")];
        let schema = Schema::structure(vec![
            Field::new("dont", s(SchemaKind::String)),
            Field::new("abc", s(SchemaKind::Int32)),
            Field::new("foo", s(SchemaKind::Boolean)),
            Field::new("etc", s(SchemaKind::String)),
        ]);
        let out = value_of(
            "ReplaceField$Value",
            &settings,
            Data::new(Some(schema), json!({"dont": "whatever", "abc": 42, "foo": true, "etc": "etc"})),
        );
        let out_schema = out.schema.unwrap();
        assert_eq!(out_schema.fields().iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["xyz", "bar"]);
        assert_eq!(out_schema.field("xyz").unwrap().schema, s(SchemaKind::Int32));
        assert_eq!(out.value, json!({"xyz": 42, "bar": true}));
    }

    // ReplaceFieldTest.testReplaceNullWithDefaultConfigs... and the deprecated names.
    #[test]
    fn replace_field_old_names_and_bad_renames() {
        let out = value_of(
            "ReplaceField$Value",
            &[("blacklist", "a"), ("whitelist", "a,b")],
            Data::schemaless(json!({"a": 1, "b": 2, "c": 3})),
        );
        assert_eq!(out, Data::schemaless(json!({"b": 2})));
        // A tombstone passes.
        assert_eq!(value_of("ReplaceField$Value", &[("exclude", "a")], Data::null()), Data::null());
        let error = config_error(&[
            ("transforms", "r"),
            ("transforms.r.type", "org.apache.kafka.connect.transforms.ReplaceField$Value"),
            ("transforms.r.renames", "a:b:c"),
        ]);
        assert!(error.contains("`transforms.r.renames`") && error.contains("a:b:c"), "{error}");
    }

    // MaskFieldTest.schemaless / withSchema: every type masks to its empty value.
    #[test]
    fn mask_field_empty_values() {
        let fields = "int,long,double,bool,string,list,map,absent";
        let out = value_of(
            "MaskField$Value",
            &[("fields", fields)],
            Data::schemaless(json!({"magic": 42, "int": 42, "long": 42, "double": 42.0, "bool": true,
                                    "string": "55.121.20.20", "list": [42], "map": {"k": "v"}})),
        );
        assert_eq!(
            out.value,
            json!({"magic": 42, "int": 0, "long": 0, "double": 0.0, "bool": false, "string": "",
                   "list": [], "map": {}, "absent": null})
        );

        let schema = Schema::structure(vec![
            Field::new("magic", s(SchemaKind::Int32)),
            Field::new("int8", s(SchemaKind::Int8)),
            Field::new("float32", s(SchemaKind::Float32)),
            Field::new("string", s(SchemaKind::String)),
            Field::new("date", Schema::date()),
            Field::new("decimal", Schema::decimal(0)),
            Field::new("array", s(SchemaKind::Array(Box::new(s(SchemaKind::Int32))))),
        ]);
        let out = value_of(
            "MaskField$Value",
            &[("fields", "int8,float32,string,date,decimal,array")],
            Data::new(
                Some(schema.clone()),
                json!({"magic": 42, "int8": 8, "float32": 1.5, "string": "x", "date": 17000,
                                                   "decimal": "MDk=", "array": [1]}),
            ),
        );
        assert_eq!(out.schema, Some(schema));
        assert_eq!(
            out.value,
            json!({"magic": 42, "int8": 0, "float32": 0.0, "string": "", "date": 0, "decimal": "AA==", "array": []})
        );
    }

    // MaskFieldTest.testReplacementTypeMismatch / withSchemaAndNumericNonNumericReplacement:
    // numbers and strings take the replacement; booleans and dates do not.
    #[test]
    fn mask_field_with_replacement() {
        let out = value_of(
            "MaskField$Value",
            &[("fields", "int,double,string"), ("replacement", "123")],
            Data::schemaless(json!({"int": 42, "double": 4.2, "string": "secret"})),
        );
        assert_eq!(out.value, json!({"int": 123, "double": 123.0, "string": "123"}));
        let schema = Schema::structure(vec![
            Field::new("int16", s(SchemaKind::Int16)),
            Field::new("amount", Schema::decimal(2)),
        ]);
        let out = value_of(
            "MaskField$Value",
            &[("fields", "int16,amount"), ("replacement", "1.5")],
            Data::new(Some(schema), json!({"int16": 7, "amount": "MDk="})),
        );
        // 1.5 truncates to 1 for INT16 (Kafka's BigDecimal.longValue); Decimal 1.50 is 150 = 0x0096.
        assert_eq!(out.value, json!({"int16": 1, "amount": base64_encode(&[0x00, 0x96])}));
        let error = apply_one(
            &format!("{T}MaskField$Value"),
            &[("fields", "b"), ("replacement", "x")],
            record_with_value(Data::schemaless(json!({"b": true}))),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("b"));
        assert!(error.message.contains("Cannot mask value of type a boolean with custom replacement"), "{error}");
        let schema = Schema::structure(vec![Field::new("d", Schema::date())]);
        let error = apply_one(
            &format!("{T}MaskField$Value"),
            &[("fields", "d"), ("replacement", "1")],
            record_with_value(Data::new(Some(schema), json!({"d": 5}))),
        )
        .unwrap_err();
        assert!(error.message.contains("Cannot mask value of type java.util.Date with custom replacement"), "{error}");
        let error = apply_one(
            &format!("{T}MaskField$Value"),
            &[("fields", "n"), ("replacement", "abc")],
            record_with_value(Data::schemaless(json!({"n": 1}))),
        )
        .unwrap_err();
        assert!(error.message.contains("Unable to convert abc"), "{error}");
    }

    #[test]
    fn mask_field_refuses_tombstones_like_kafka() {
        let error =
            apply_one(&format!("{T}MaskField$Value"), &[("fields", "a")], record_with_value(Data::null())).unwrap_err();
        assert!(error.message.contains("Only Map objects supported"), "{error}");
    }

    // FieldPathNotationTest: V2 paths with dots, backticks and escapes.
    #[test]
    fn v2_paths() {
        let p = |path: &str| parse_path_v2(path).unwrap();
        assert_eq!(p(""), Vec::<String>::new());
        assert_eq!(p("foo.bar.baz"), ["foo", "bar", "baz"]);
        assert_eq!(p(".bar."), ["", "bar", ""]);
        assert_eq!(p("foo`bar`baz"), ["foo`bar`baz"]);
        assert_eq!(p("`foo.bar`.baz"), ["foo.bar", "baz"]);
        assert_eq!(p("foo.`bar.baz``"), ["foo", "bar.baz`"]);
        assert_eq!(p("foo.``bar``.baz"), ["foo", "`bar`", "baz"]);
        assert_eq!(p("foo.`bar\\`.baz`"), ["foo", "bar`.baz"]);
        assert_eq!(p("foo.`bar\\\\`.\\`baz`"), ["foo", "bar\\`.\\`baz"]);
        assert_eq!(
            parse_path_v2("foo.`bar.baz").unwrap_err(),
            "Incomplete backtick pair in path: [foo.`bar.baz], consider adding a backslash before backtick at position 4 to escape it"
        );
        assert!(parse_path_v2("foo.bar.`baz\\`").unwrap_err().contains("position 8"));
    }

    // ExtractFieldTest.schemaless / schemalessAndNestedPath / nullSchemaless /
    // nonExistentFieldSchemalessShouldReturnNull.
    #[test]
    fn extract_field_schemaless() {
        let key = |settings: &[(&str, &str)], key: Data| {
            apply_one(&format!("{T}ExtractField$Key"), settings, record_with_key(key)).unwrap().unwrap().key
        };
        assert_eq!(key(&[("field", "magic")], Data::schemaless(json!({"magic": 42}))), Data::schemaless(json!(42)));
        let nested = [("field", "magic.foo"), ("field.syntax.version", "v2")];
        assert_eq!(key(&nested, Data::schemaless(json!({"magic": {"foo": 42}}))), Data::schemaless(json!(42)));
        assert_eq!(key(&[("field", "magic")], Data::null()), Data::null());
        assert_eq!(key(&[("field", "nonexistent")], Data::schemaless(json!({"magic": 42}))), Data::null());
        assert_eq!(key(&nested, Data::schemaless(json!({"magic": {"bar": 1}}))), Data::null());
    }

    // ExtractFieldTest.withSchema / withSchemaAndNestedPath / testNullWithSchema /
    // nonExistentFieldWithSchemaShouldFail.
    #[test]
    fn extract_field_with_schema() {
        let key = |settings: &[(&str, &str)], key: Data| {
            apply_one(&format!("{T}ExtractField$Key"), settings, record_with_key(key))
        };
        let schema = Schema::structure(vec![Field::new("magic", s(SchemaKind::Int32))]);
        let out =
            key(&[("field", "magic")], Data::new(Some(schema.clone()), json!({"magic": 42}))).unwrap().unwrap().key;
        assert_eq!(out, Data::new(Some(s(SchemaKind::Int32)), json!(42)));
        let out = key(&[("field", "magic")], Data::new(Some(schema.clone()), Value::Null)).unwrap().unwrap().key;
        assert_eq!(out, Data::new(Some(s(SchemaKind::Int32)), Value::Null));
        let nested_schema = Schema::structure(vec![Field::new("magic", schema.clone())]);
        let out = key(
            &[("field", "magic.magic"), ("field.syntax.version", "V2")],
            Data::new(Some(nested_schema.clone()), json!({"magic": {"magic": 42}})),
        )
        .unwrap()
        .unwrap()
        .key;
        assert_eq!(out, Data::new(Some(s(SchemaKind::Int32)), json!(42)));
        let error = key(&[("field", "nonexistent")], Data::new(Some(schema), json!({"magic": 42}))).unwrap_err();
        assert!(error.message.starts_with("Unknown field: nonexistent"), "{error}");
        let error = key(
            &[("field", "magic.nonexistent"), ("field.syntax.version", "V2")],
            Data::new(Some(nested_schema), json!({"magic": {"magic": 42}})),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("magic.nonexistent"));
    }

    // HoistFieldTest.schemaless / withSchema.
    #[test]
    fn hoist_field() {
        let key = |key: Data| {
            apply_one(&format!("{T}HoistField$Key"), &[("field", "magic")], record_with_key(key))
                .map(|r| r.unwrap().key)
        };
        assert_eq!(key(Data::schemaless(json!(42))).unwrap(), Data::schemaless(json!({"magic": 42})));
        let out = key(Data::new(Some(s(SchemaKind::Int32)), json!(42))).unwrap();
        assert_eq!(out.schema, Some(Schema::structure(vec![Field::new("magic", s(SchemaKind::Int32))])));
        assert_eq!(out.value, json!({"magic": 42}));
        assert!(key(Data::new(Some(s(SchemaKind::Int32)), Value::Null))
            .unwrap_err()
            .message
            .contains("null used for required field"));
    }

    // ValueToKeyTest.schemaless / withSchema / nonExistingField.
    #[test]
    fn value_to_key() {
        let run = |value: Data| apply_one(&format!("{T}ValueToKey"), &[("fields", "a,b")], record_with_value(value));
        let out = run(Data::schemaless(json!({"a": 1, "b": 2, "c": 3}))).unwrap().unwrap();
        assert_eq!(out.key, Data::schemaless(json!({"a": 1, "b": 2})));
        assert_eq!(out.value, Data::schemaless(json!({"a": 1, "b": 2, "c": 3})));
        let schema = Schema::structure(vec![
            Field::new("a", s(SchemaKind::Int32)),
            Field::new("b", s(SchemaKind::Int32)),
            Field::new("c", s(SchemaKind::Int32)),
        ]);
        let out = run(Data::new(Some(schema), json!({"a": 1, "b": 2, "c": 3}))).unwrap().unwrap();
        assert_eq!(
            out.key,
            Data::new(
                Some(Schema::structure(vec![
                    Field::new("a", s(SchemaKind::Int32)),
                    Field::new("b", s(SchemaKind::Int32))
                ])),
                json!({"a": 1, "b": 2})
            )
        );
        let schema = Schema::structure(vec![Field::new("a", s(SchemaKind::Int32))]);
        let error = run(Data::new(Some(schema), json!({"a": 1}))).unwrap_err();
        assert_eq!((error.field.as_deref(), error.message.as_str()), (Some("b"), "Field does not exist: b"));
    }

    // FlattenTest.testNestedMapWithDelimiter and testSchemalessArray.
    #[test]
    fn flatten_schemaless() {
        let out = value_of(
            "Flatten$Value",
            &[("delimiter", "#")],
            Data::schemaless(json!({"A": {"B": {"int8": 8, "string": "stringy", "list": [1, {"x": 2}]}}, "top": null})),
        );
        assert_eq!(
            serde_json::to_string(&out.value).unwrap(),
            r##"{"A#B#int8":8,"A#B#string":"stringy","A#B#list":[1,{"x":2}],"top":null}"##
        );
        assert_eq!(value_of("Flatten$Value", &[], Data::null()), Data::null());
    }

    // FlattenTest.testNestedStruct and testOptionalAndDefaultValuesNested: names joined with the
    // delimiter; a field under an optional parent becomes optional and takes the parent's
    // default.
    #[test]
    fn flatten_with_schema() {
        let inner = Schema::structure(vec![
            Field::new("req_field", s(SchemaKind::String)),
            Field::new("opt_field", s(SchemaKind::String).optional().with_default(json!("child_default"))),
        ]);
        let inner = inner.optional().with_default(json!({"req_field": "req_default", "opt_field": "child_default"}));
        let schema =
            Schema::structure(vec![Field::new("nested", inner), Field::new("n", s(SchemaKind::Int32))]).named("top");
        let out = value_of("Flatten$Value", &[], Data::new(Some(schema.clone()), json!({"nested": null, "n": 1})));
        let flat = out.schema.unwrap();
        assert_eq!(flat.name.as_deref(), Some("top"));
        assert_eq!(
            flat.field("nested.req_field").unwrap().schema,
            s(SchemaKind::String).optional().with_default(json!("req_default"))
        );
        assert_eq!(
            flat.field("nested.opt_field").unwrap().schema,
            s(SchemaKind::String).optional().with_default(json!("child_default"))
        );
        // The null parent's fields read as their (inherited) defaults.
        assert_eq!(out.value, json!({"nested.req_field": "req_default", "nested.opt_field": "child_default", "n": 1}));

        let out = value_of(
            "Flatten$Value",
            &[],
            Data::new(Some(schema), json!({"nested": {"req_field": "a", "opt_field": "b"}, "n": 2})),
        );
        assert_eq!(out.value, json!({"nested.req_field": "a", "nested.opt_field": "b", "n": 2}));
    }

    #[test]
    fn flatten_refuses_maps_in_structs() {
        let schema = Schema::structure(vec![Field::new(
            "m",
            s(SchemaKind::Map(Box::new(s(SchemaKind::String)), Box::new(s(SchemaKind::String)))),
        )]);
        let error =
            apply_one(&format!("{T}Flatten$Value"), &[], record_with_value(Data::new(Some(schema), json!({"m": {}}))))
                .unwrap_err();
        assert!(error.message.contains("does not support MAP"), "{error}");
    }

    #[test]
    fn key_variants_leave_the_value_alone() {
        let mut r = record();
        r.key = Data::schemaless(json!({"a": 1}));
        r.value = Data::schemaless(json!({"a": 2}));
        let out = apply_one(&format!("{T}InsertField$Key"), &[("static.field", "s"), ("static.value", "v")], r)
            .unwrap()
            .unwrap();
        assert_eq!(out.key, Data::schemaless(json!({"a": 1, "s": "v"})));
        assert_eq!(out.value, Data::schemaless(json!({"a": 2})));
    }
}
