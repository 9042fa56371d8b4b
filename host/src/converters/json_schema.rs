//! JSON Schema to Kafka Connect data, following Confluent's `JsonSchemaData.toConnectSchema` /
//! `toConnectData` with the `JsonSchemaConverter` defaults.
//!
//! The mapping:
//! - `object` with `properties` → STRUCT named after its `title`; `integer` → INT64, `number` →
//!   FLOAT64, `string` → STRING, `boolean` → BOOLEAN, `array` (one `items` schema) → ARRAY;
//!   a `connect.type` hint picks another Connect type (`int8`, `int16`, `int32`, `int64`,
//!   `float32`, `float64`, `bytes`, and `map` on an object or an array of key/value objects);
//!   `title` names any schema (so `org.apache.kafka.connect.data.Decimal` / `Date` / `Time` /
//!   `Timestamp` titles make logical types), `description` is the doc, `connect.version`,
//!   `connect.parameters` and `default` are kept;
//! - `oneOf`/`anyOf` of `null` and one schema, or `"type": [T, "null"]` → optional T; other
//!   `oneOf`/`anyOf` → a STRUCT named `io.confluent.connect.json.OneOf` with optional fields
//!   `io.confluent.connect.json.OneOf.field.<i>`, the value in the first member whose type
//!   matches; `enum`/`const` → STRING with the parameters `io.confluent.connect.json.Enum`;
//!   local `$ref`s (`#/definitions/..`, `#/$defs/..`) are followed;
//! - struct fields come in `connect.index` order when the properties carry it, otherwise in
//!   the iteration order of the Java `HashMap` Confluent's schema loader keeps properties in
//!   (document order grouped by the names' Java hash buckets), so field order matches
//!   Confluent's;
//! - the registry's version of the schema becomes the top-level Connect schema's version
//!   unless `connect.version` is set.
//!
//! Where sluice is narrower than Confluent: a property not listed in `required` is always an
//! optional field (Confluent does that only with `use.optional.for.nonrequired=true`; by
//! default it builds a required field that holds null when the property is absent, which
//! Kafka Connect's own JsonConverter cannot write); a required property that is absent, or a
//! value whose JSON type does not match the schema, is an error (Confluent's Jackson accessors
//! coerce such values to null, 0 or false); `allOf` is supported only when its members are
//! objects (their properties merged); schemas without a type (`{}`, `true`), `not`, remote
//! `$ref`s and recursive `$ref`s are refused; number values are read as 64-bit floats (so a
//! decimal beyond 15-17 significant digits, or a long beyond 2^53 written as a float, can lose
//! precision).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use super::payload::{self, set_parameter};
use crate::transforms::{Field, Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};

/// Connect schema name of a `oneOf`/`anyOf` that is not just "nullable".
pub const ONE_OF: &str = "io.confluent.connect.json.OneOf";
const ENUM: &str = "io.confluent.connect.json.Enum";
const NULL_MARKER: &str = "<NULL>";

/// A registered JSON Schema, ready to convert records.
#[derive(Debug)]
pub(crate) struct JsonSchema {
    node: Node,
}

/// One position of the JSON Schema: its Connect schema and how values there are read.
#[derive(Debug, Clone)]
struct Node {
    schema: Schema,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar,
    Array(Box<Node>),
    /// A map with string keys read from a JSON object.
    Map(Box<Node>),
    /// A map read from an array of `{"key":..,"value":..}` objects.
    Entries(Box<Node>, Box<Node>),
    /// Fields, with whether the property is listed in `required`.
    Struct(Vec<(String, Node, bool)>),
    /// A `oneOf`/`anyOf` struct: its member fields, in order.
    OneOf(Vec<(String, Node)>),
}

impl JsonSchema {
    /// Parses the schema text registered under `id` and builds the Connect schema, with
    /// `version` on the top level.
    pub(crate) fn compile(id: u32, text: &str, version: Option<i32>) -> anyhow::Result<JsonSchema> {
        let root: Value = serde_json::from_str(text).map_err(|e| anyhow!("schema id {id} is not valid JSON: {e}"))?;
        let mut compiler = Compiler { root: &root, active: Vec::new() };
        let node = compiler
            .compile(&root, version, false)
            .with_context(|| format!("JSON Schema id {id} cannot be mapped to a Kafka Connect schema"))?;
        Ok(JsonSchema { node })
    }

    /// The Connect schema of the records.
    pub(crate) fn connect_schema(&self) -> &Schema {
        &self.node.schema
    }

    /// Reads one record's JSON text (after the wire-format header) into payload form.
    pub(crate) fn decode(&self, body: &[u8]) -> anyhow::Result<Value> {
        let json: Value =
            serde_json::from_slice(body).map_err(|e| anyhow!("the record is not valid JSON text: {e}"))?;
        convert(&self.node, Some(&json), "")
    }
}

struct Compiler<'a> {
    root: &'a Value,
    /// `$ref`s being followed (a repeat is a recursive schema).
    active: Vec<String>,
}

impl<'a> Compiler<'a> {
    /// `JsonSchemaData.toConnectSchema(ctx, schema, version, forceOptional)`.
    fn compile(&mut self, json: &Value, version: Option<i32>, force_optional: bool) -> anyhow::Result<Node> {
        let object = match json {
            Value::Object(object) => object,
            Value::Bool(_) => bail!(
                "the schema {json} accepts any value; Kafka Connect needs a type (sluice does not map untyped values)"
            ),
            other => bail!("not a JSON Schema: {other}"),
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.follow(reference, version, force_optional);
        }
        if object.contains_key("not") {
            bail!("`not` schemas have no Kafka Connect equivalent");
        }
        if let Some(members) = object.get("allOf").and_then(Value::as_array) {
            return self.compile_all_of(members, force_optional);
        }
        if let Some(members) =
            object.get("oneOf").or_else(|| object.get("anyOf")).and_then(Value::as_array).map(Vec::as_slice)
        {
            let members: Vec<&Value> = members.iter().collect();
            return self.compile_combined(object, &members, version, force_optional);
        }
        if let Some(values) = object.get("enum").and_then(Value::as_array) {
            return self.finish(object, enum_schema(values), Kind::Scalar, version, force_optional);
        }
        if let Some(value) = object.get("const") {
            return self.finish(
                object,
                enum_schema(std::slice::from_ref(value)),
                Kind::Scalar,
                version,
                force_optional,
            );
        }
        match object.get("type") {
            Some(Value::String(kind)) => self.compile_type(object, kind, version, force_optional),
            Some(Value::Array(kinds)) => {
                // `"type": ["string", "null"]` is an anyOf of one schema per type.
                let members: Vec<Value> = kinds
                    .iter()
                    .map(|kind| {
                        let mut member = object.clone();
                        member.insert("type".into(), kind.clone());
                        for key in ["title", "description", "default", "connect.version", "connect.parameters"] {
                            member.remove(key);
                        }
                        Value::Object(member)
                    })
                    .collect();
                let members: Vec<&Value> = members.iter().collect();
                self.compile_combined(object, &members, version, force_optional)
            }
            None if object.contains_key("properties") => self.compile_type(object, "object", version, force_optional),
            None if object.contains_key("items") => self.compile_type(object, "array", version, force_optional),
            _ => {
                bail!("the schema {json} has no \"type\"; Kafka Connect needs one (sluice does not map untyped values)")
            }
        }
    }

    fn follow(&mut self, reference: &str, version: Option<i32>, force_optional: bool) -> anyhow::Result<Node> {
        let pointer = reference.strip_prefix('#').ok_or_else(|| {
            anyhow!("`$ref: {reference}` points outside the schema; sluice only follows local references (#/...)")
        })?;
        if self.active.iter().any(|r| r == reference) {
            bail!("`$ref: {reference}` is recursive; Kafka Connect schemas cannot refer to themselves");
        }
        let target = self
            .root
            .pointer(pointer)
            .or_else(|| {
                // Confluent bridges `definitions` and `$defs`.
                let swapped = if let Some(rest) = pointer.strip_prefix("/$defs/") {
                    format!("/definitions/{rest}")
                } else if let Some(rest) = pointer.strip_prefix("/definitions/") {
                    format!("/$defs/{rest}")
                } else {
                    return None;
                };
                self.root.pointer(&swapped)
            })
            .ok_or_else(|| anyhow!("`$ref: {reference}` does not resolve inside the schema"))?;
        self.active.push(reference.to_string());
        let node = self.compile(target, version, force_optional);
        self.active.pop();
        node
    }

    /// `oneOf` / `anyOf` (also `"type": [..]`).
    fn compile_combined(
        &mut self,
        object: &Map<String, Value>,
        members: &[&Value],
        version: Option<i32>,
        force_optional: bool,
    ) -> anyhow::Result<Node> {
        if members.len() == 1 {
            return self.compile(members[0], None, false);
        }
        let is_null = |member: &Value| member.get("type").and_then(Value::as_str) == Some("null");
        if members.len() == 2 && members.iter().any(|m| is_null(m)) {
            let other = members.iter().find(|m| !is_null(m)).expect("one member is not null");
            return self.compile(other, version, true);
        }
        let mut fields = Vec::new();
        let mut nodes = Vec::new();
        let mut optional = false;
        for member in members {
            if is_null(member) {
                optional = true;
                continue;
            }
            let name = format!("{ONE_OF}.field.{}", nodes.len());
            let node = self.compile(member, None, true)?;
            fields.push(Field::new(name.clone(), node.schema.clone()));
            nodes.push((name, node));
        }
        let mut schema = Schema::structure(fields).named(ONE_OF);
        schema.optional = optional;
        self.finish(object, schema, Kind::OneOf(nodes), version, force_optional)
    }

    /// `allOf`: only objects, whose properties are merged into one struct.
    fn compile_all_of(&mut self, members: &[Value], force_optional: bool) -> anyhow::Result<Node> {
        let root = self.root;
        let mut properties: Vec<(String, Value)> = Vec::new();
        let mut required: Vec<String> = Vec::new();
        let mut pending: Vec<&Value> = members.iter().rev().collect();
        while let Some(member) = pending.pop() {
            let member = match member.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference.strip_prefix('#').unwrap_or(reference);
                    root.pointer(pointer).ok_or_else(|| anyhow!("`$ref: {reference}` does not resolve"))?
                }
                None => member,
            };
            if let Some(nested) = member.get("allOf").and_then(Value::as_array) {
                pending.extend(nested.iter().rev());
                continue;
            }
            let Some(props) = member.get("properties").and_then(Value::as_object) else {
                bail!("`allOf` is supported only over object schemas with properties; found {member}");
            };
            for (name, schema) in props {
                match properties.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = schema.clone(),
                    None => properties.push((name.clone(), schema.clone())),
                }
            }
            let listed = member.get("required").and_then(Value::as_array).into_iter().flatten();
            required.extend(listed.filter_map(Value::as_str).map(str::to_string));
        }
        let mut fields = Vec::new();
        let mut nodes = Vec::new();
        for (name, schema) in properties {
            let is_required = required.contains(&name);
            let node = self.compile(&schema, None, !is_required).with_context(|| format!("property `{name}`"))?;
            fields.push(Field::new(name.clone(), node.schema.clone()));
            nodes.push((name, node, is_required));
        }
        let mut schema = Schema::structure(fields);
        schema.optional = force_optional;
        Ok(Node { schema, kind: Kind::Struct(nodes) })
    }

    fn compile_type(
        &mut self,
        object: &Map<String, Value>,
        kind: &str,
        version: Option<i32>,
        force_optional: bool,
    ) -> anyhow::Result<Node> {
        let connect_type = object.get("connect.type").and_then(Value::as_str);
        let (schema, node_kind) = match kind {
            "boolean" => (Schema::new(SchemaKind::Boolean), Kind::Scalar),
            "integer" | "number" => {
                let schema_kind = match connect_type {
                    None if kind == "integer" => SchemaKind::Int64,
                    None => SchemaKind::Float64,
                    Some("int8") => SchemaKind::Int8,
                    Some("int16") => SchemaKind::Int16,
                    Some("int32") => SchemaKind::Int32,
                    Some("int64") => SchemaKind::Int64,
                    Some("float32") => SchemaKind::Float32,
                    Some("float64") => SchemaKind::Float64,
                    Some("bytes") => SchemaKind::Bytes,
                    Some(other) => bail!("unsupported \"connect.type\": {other:?} on a {kind}"),
                };
                (Schema::new(schema_kind), Kind::Scalar)
            }
            "string" => {
                let schema_kind = if connect_type == Some("bytes") { SchemaKind::Bytes } else { SchemaKind::String };
                (Schema::new(schema_kind), Kind::Scalar)
            }
            "null" => bail!("a schema of type null alone has no Kafka Connect equivalent (use it inside oneOf)"),
            "array" => {
                let items = match object.get("items") {
                    Some(items @ Value::Object(_)) => items,
                    _ => bail!("array schema did not specify the items type (one schema in \"items\")"),
                };
                let entry_properties = items.get("properties").and_then(Value::as_object);
                match (connect_type, entry_properties) {
                    (Some("map"), Some(properties)) => {
                        let part = |name: &str| {
                            properties
                                .get(name)
                                .ok_or_else(|| anyhow!("a connect.type=map array needs items with `{name}`"))
                        };
                        let key = self.compile(part("key")?, None, false)?;
                        let value = self.compile(part("value")?, None, false)?;
                        let schema =
                            Schema::new(SchemaKind::Map(Box::new(key.schema.clone()), Box::new(value.schema.clone())));
                        (schema, Kind::Entries(Box::new(key), Box::new(value)))
                    }
                    _ => {
                        let items = self.compile(items, None, false).context("array items")?;
                        (Schema::new(SchemaKind::Array(Box::new(items.schema.clone()))), Kind::Array(Box::new(items)))
                    }
                }
            }
            "object" if connect_type == Some("map") => {
                let values = match object.get("additionalProperties") {
                    Some(values @ Value::Object(_)) => values,
                    _ => bail!("a connect.type=map object needs an \"additionalProperties\" schema for its values"),
                };
                let values = self.compile(values, None, false)?;
                let schema = Schema::new(SchemaKind::Map(
                    Box::new(Schema::new(SchemaKind::String)),
                    Box::new(values.schema.clone()),
                ));
                (schema, Kind::Map(Box::new(values)))
            }
            "object" => {
                let empty = Map::new();
                let properties = object.get("properties").and_then(Value::as_object).unwrap_or(&empty);
                let required: Vec<&str> = object
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let mut fields = Vec::new();
                let mut nodes = Vec::new();
                for (name, property) in ordered_properties(properties) {
                    let is_required = required.contains(&name.as_str());
                    let node =
                        self.compile(property, None, !is_required).with_context(|| format!("property `{name}`"))?;
                    fields.push(Field::new(name.clone(), node.schema.clone()));
                    nodes.push((name.clone(), node, is_required));
                }
                (Schema::structure(fields), Kind::Struct(nodes))
            }
            other => bail!("unsupported JSON Schema type `{other}`"),
        };
        self.finish(object, schema, node_kind, version, force_optional)
    }

    /// The common part of `toConnectSchema`: title, version, description, parameters,
    /// default, optional.
    fn finish(
        &mut self,
        object: &Map<String, Value>,
        mut schema: Schema,
        kind: Kind,
        version: Option<i32>,
        force_optional: bool,
    ) -> anyhow::Result<Node> {
        if let Some(title) = object.get("title").and_then(Value::as_str) {
            if schema.name.is_none() {
                schema.name = Some(title.to_string());
            }
        }
        match object.get("connect.version") {
            Some(v) => {
                schema.version = Some(
                    v.as_i64()
                        .and_then(|v| i32::try_from(v).ok())
                        .ok_or_else(|| anyhow!("\"connect.version\" must be an integer, found {v}"))?,
                )
            }
            None if version.is_some() => schema.version = version,
            None => {}
        }
        if let Some(doc) = object.get("description").and_then(Value::as_str) {
            schema.doc = Some(doc.to_string());
        }
        if let Some(parameters) = object.get("connect.parameters") {
            let parameters = parameters
                .as_object()
                .ok_or_else(|| anyhow!("\"connect.parameters\" must be an object, found {parameters}"))?;
            for (key, value) in parameters {
                set_parameter(&mut schema.parameters, key.clone(), payload::property_text(value));
            }
        }
        let mut node = Node { schema, kind };
        if let Some(default) = object.get("default").filter(|d| !d.is_null()) {
            let value = convert(&node, Some(default), "").context("invalid default")?;
            node.schema.default = Some(value).filter(|v| !v.is_null());
        }
        if force_optional {
            node.schema.optional = true;
        }
        Ok(node)
    }
}

/// The Connect schema of an `enum` / `const`: a STRING with the symbols as parameters.
fn enum_schema(values: &[Value]) -> Schema {
    let mut schema = Schema::new(SchemaKind::String);
    set_parameter(&mut schema.parameters, ENUM, "");
    for value in values {
        let symbol = match value {
            Value::Null => NULL_MARKER.to_string(),
            other => payload::property_text(other),
        };
        set_parameter(&mut schema.parameters, format!("{ENUM}.{symbol}"), symbol);
    }
    schema
}

/// The properties in Confluent's field order: by `connect.index` where given (a property
/// without one takes the count of properties placed so far, as `JsonSchemaData` does), in the
/// order a Java `HashMap` iterates them.
fn ordered_properties(properties: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let entries: Vec<(&String, &Value)> = properties.iter().collect();
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    let mut placed: BTreeMap<i64, (&String, &Value)> = BTreeMap::new();
    for index in java_hash_map_order(&names) {
        let (name, schema) = entries[index];
        let position = schema.get("connect.index").and_then(Value::as_i64).unwrap_or(placed.len() as i64);
        placed.insert(position, (name, schema));
    }
    placed.into_values().collect()
}

/// The order in which a `java.util.HashMap<String, _>` filled with `keys` (in this order, by
/// successive `put`s into a default-sized map) iterates them: by bucket (`hash ^ hash >>> 16`
/// masked by the table size, which doubles past 3/4 full from 16), then insertion order.
pub(crate) fn java_hash_map_order(keys: &[&str]) -> Vec<usize> {
    let mut capacity: usize = 16;
    while keys.len() > capacity * 3 / 4 {
        capacity *= 2;
    }
    let bucket = |key: &str| {
        let mut h: i32 = 0;
        for unit in key.encode_utf16() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
        }
        let spread = (h ^ ((h as u32) >> 16) as i32) as u32;
        spread as usize & (capacity - 1)
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| bucket(keys[i]));
    order
}

/// Reads `json` (`None`: the property is absent) at `node` into payload form.
fn convert(node: &Node, json: Option<&Value>, at: &str) -> anyhow::Result<Value> {
    let schema = &node.schema;
    let here = || if at.is_empty() { "the record".to_string() } else { format!("field `{at}`") };
    let json = match json {
        None | Some(Value::Null) => {
            if let Some(default) = &schema.default {
                return Ok(default.clone());
            }
            if schema.optional {
                return Ok(Value::Null);
            }
            match json {
                None => bail!("{}: the property is required by the schema but the record has none", here()),
                _ => bail!("{}: invalid null value for required {} field", here(), schema.kind.kafka_name()),
            }
        }
        Some(json) => json,
    };
    let mismatch = || anyhow!("{}: expected {} but found {json}", here(), schema.kind.kafka_name());
    match schema.name.as_deref() {
        Some(DECIMAL) => {
            let scale: i32 = schema.parameter("scale").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            return match json {
                Value::Number(number) => decimal_from_text(&number.to_string(), scale)
                    .map(|bytes| payload::decimal(&bytes))
                    .ok_or_else(|| anyhow!("{}: {number} does not fit a Decimal of scale {scale}", here())),
                Value::String(text) => payload::base64_decode(text)
                    .map(|bytes| payload::decimal(&bytes))
                    .ok_or_else(|| anyhow!("{}: invalid bytes for Decimal field", here())),
                _ => Err(anyhow!(
                    "{}: invalid type for Decimal, underlying representation should be numeric or bytes",
                    here()
                )),
            };
        }
        Some(DATE) | Some(TIME) => {
            return json.as_i64().filter(|v| i32::try_from(*v).is_ok()).map(Value::from).ok_or_else(|| {
                anyhow!(
                    "{}: invalid type for {}, underlying representation should be integer",
                    here(),
                    schema.name.as_deref().unwrap_or_default()
                )
            });
        }
        Some(TIMESTAMP) => {
            return json.as_i64().map(Value::from).ok_or_else(|| {
                anyhow!("{}: invalid type for Timestamp, underlying representation should be integral", here())
            });
        }
        _ => {}
    }
    Ok(match (&node.kind, &schema.kind) {
        (Kind::Scalar, SchemaKind::Boolean) => Value::Bool(json.as_bool().ok_or_else(mismatch)?),
        (Kind::Scalar, SchemaKind::Int8) => Value::from(java_long(json).ok_or_else(mismatch)? as i16 as i8),
        (Kind::Scalar, SchemaKind::Int16) => Value::from(java_long(json).ok_or_else(mismatch)? as i16),
        (Kind::Scalar, SchemaKind::Int32) => Value::from(java_long(json).ok_or_else(mismatch)? as i32),
        (Kind::Scalar, SchemaKind::Int64) => Value::from(java_long(json).ok_or_else(mismatch)?),
        (Kind::Scalar, SchemaKind::Float32) => {
            payload::float32(json.as_f64().ok_or_else(mismatch)? as f32).map_err(|e| anyhow!("{}: {e}", here()))?
        }
        (Kind::Scalar, SchemaKind::Float64) => {
            payload::float64(json.as_f64().ok_or_else(mismatch)?).map_err(|e| anyhow!("{}: {e}", here()))?
        }
        (Kind::Scalar, SchemaKind::String) => Value::from(json.as_str().ok_or_else(mismatch)?),
        (Kind::Scalar, SchemaKind::Bytes) => {
            let text = json.as_str().ok_or_else(mismatch)?;
            payload::base64(&payload::base64_decode(text).ok_or_else(|| anyhow!("{}: invalid base64 bytes", here()))?)
        }
        (Kind::Array(items), _) => {
            let array = json.as_array().ok_or_else(mismatch)?;
            Value::Array(
                array
                    .iter()
                    .enumerate()
                    .map(|(i, item)| convert(items, Some(item), &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Kind::Map(values), _) => {
            let object = json.as_object().ok_or_else(|| {
                anyhow!("{}: maps with string fields should be encoded as JSON objects, but found {json}", here())
            })?;
            let mut out = Map::new();
            for (key, value) in object {
                out.insert(key.clone(), convert(values, Some(value), &join(at, key))?);
            }
            Value::Object(out)
        }
        (Kind::Entries(keys, values), _) => {
            let entries = json.as_array().ok_or_else(|| {
                anyhow!("{}: maps with non-string fields should be encoded as JSON array of objects", here())
            })?;
            let mut pairs = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let entry = entry.as_object().filter(|e| e.len() == 2).ok_or_else(|| {
                    anyhow!("{}[{i}]: found invalid map entry, expected {{\"key\":..,\"value\":..}}", here())
                })?;
                let key = convert(keys, entry.get("key"), &format!("{at}[{i}].key"))?;
                let value = convert(values, entry.get("value"), &format!("{at}[{i}].value"))?;
                pairs.push((key, value));
            }
            if keys.schema.kind == SchemaKind::String {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v)).collect())
            } else {
                Value::Array(pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect())
            }
        }
        (Kind::Struct(fields), _) => {
            let object = json
                .as_object()
                .ok_or_else(|| anyhow!("{}: structs should be encoded as JSON objects, but found {json}", here()))?;
            let mut out = Map::new();
            for (name, field, _) in fields {
                out.insert(name.clone(), convert(field, object.get(name), &join(at, name))?);
            }
            Value::Object(out)
        }
        (Kind::OneOf(members), _) => {
            let chosen = members
                .iter()
                .position(|(_, member)| simple_type_matches(&member.schema, json))
                .or_else(|| {
                    let scores: Vec<usize> = members.iter().map(|(_, m)| struct_match(m, json)).collect();
                    let best = scores.iter().copied().max().unwrap_or(0);
                    (best > 0).then(|| scores.iter().position(|s| *s == best).unwrap_or(0))
                })
                .ok_or_else(|| anyhow!("{}: did not find matching oneof field for data {json}", here()))?;
            let mut out = Map::new();
            for (i, (name, member)) in members.iter().enumerate() {
                let value = if i == chosen { convert(member, Some(json), &join(at, name))? } else { Value::Null };
                out.insert(name.clone(), value);
            }
            Value::Object(out)
        }
        _ => return Err(mismatch()),
    })
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// A JSON number as Jackson's `longValue()` reads it (fractions truncated).
fn java_long(json: &Value) -> Option<i64> {
    let number = json.as_number()?;
    number.as_i64().or_else(|| number.as_u64().map(|u| u as i64)).or_else(|| number.as_f64().map(|f| f as i64))
}

/// `JsonSchemaData.isInstanceOfSchemaTypeForSimpleSchema`.
fn simple_type_matches(schema: &Schema, json: &Value) -> bool {
    match &schema.kind {
        SchemaKind::Int8 | SchemaKind::Int16 | SchemaKind::Int32 | SchemaKind::Int64 => {
            json.as_number().is_some_and(|n| n.is_i64() || n.is_u64())
        }
        SchemaKind::Float32 | SchemaKind::Float64 => json.is_number(),
        SchemaKind::Boolean => json.is_boolean(),
        SchemaKind::String => json.is_string(),
        SchemaKind::Bytes => json.is_number() && schema.name.as_deref() == Some(DECIMAL),
        SchemaKind::Array(_) => json.is_array(),
        SchemaKind::Map(..) => json.is_object() || json.is_array(),
        SchemaKind::Struct(_) => false,
    }
}

/// `JsonSchemaData.matchStructSchema`: how many of a struct's fields (recursively) the object has.
fn struct_match(node: &Node, json: &Value) -> usize {
    let (Kind::Struct(fields), Some(object)) = (&node.kind, json.as_object()) else { return 0 };
    fields.iter().filter_map(|(name, field, _)| object.get(name).map(|value| 1 + struct_match(field, value))).sum()
}

/// The unscaled value of the decimal `text` (`12.5`, `-1e3`) at `scale`, as big-endian two's
/// complement; `None` when digits would be lost or it exceeds 128 bits.
fn decimal_from_text(text: &str, scale: i32) -> Option<Vec<u8>> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // value = digits × 10^(exponent - fraction.len()); unscaled = value × 10^scale.
    let shift = exponent - fraction.len() as i32 + scale;
    let mut unscaled: i128 = digits.parse().ok()?;
    if shift >= 0 {
        for _ in 0..shift {
            unscaled = unscaled.checked_mul(10)?;
        }
    } else {
        for _ in 0..(-shift) {
            if unscaled % 10 != 0 {
                return None;
            }
            unscaled /= 10;
        }
    }
    if negative {
        unscaled = -unscaled;
    }
    Some(unscaled.to_be_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_rescaled_exactly() {
        assert_eq!(decimal_from_text("12.5", 2).map(|b| payload::shortest_twos_complement(&b)), Some(vec![0x04, 0xE2]));
        assert_eq!(decimal_from_text("-1e1", 0).map(|b| payload::shortest_twos_complement(&b)), Some(vec![0xF6]));
        assert_eq!(decimal_from_text("1.234", 2), None);
    }
}
