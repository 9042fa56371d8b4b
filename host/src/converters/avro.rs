//! Avro to Kafka Connect data, following Confluent's `AvroData.toConnectSchema` /
//! `toConnectData` with the `AvroConverter` defaults (`connect.meta.data=true`,
//! `enhanced.avro.schema.support=false`, `generalized.sum.type.support=false`,
//! `flatten.singleton.unions=true`, `discard.type.doc.default=false`).
//!
//! The record is decoded by the `apache-avro` crate; the Connect schema is built from the
//! schema's JSON text, because Confluent's mapping reads properties that the crate drops from
//! primitive types (`connect.name`, `connect.type`, `connect.version`, `connect.parameters`,
//! `connect.default`, `avro.*`). The mapping:
//! - record → STRUCT named with the record's full name; the record's `doc` becomes the parameter
//!   `io.confluent.connect.avro.record.doc`, each field's `doc` the record parameter
//!   `io.confluent.connect.avro.field.doc.<field>`; a field `default` becomes the field schema's
//!   default, flagged with the parameter `io.confluent.connect.avro.field.default=true`;
//! - `["null", T]` (either order) → optional T (a field default on it is dropped, as Confluent
//!   does); `[T]` → T; other unions → an optional-member STRUCT named
//!   `io.confluent.connect.avro.Union` with one field per non-null member, named after the
//!   member's type (`int`, `string`...) or, for records, enums and fixed, its simple name; the
//!   union is optional when it has a `null` member;
//! - enum → STRING with the parameters `io.confluent.connect.avro.Enum=<full name>` and
//!   `io.confluent.connect.avro.Enum.<symbol>=<symbol>`; fixed → BYTES named with its full name
//!   and the parameter `connect.fixed.size`; bytes → BYTES; map → MAP of required STRING keys;
//!   an array of `io.confluent.connect.avro.MapEntry` records → MAP with those key and value
//!   types; array → ARRAY; int → INT32 (INT8 / INT16 with `connect.type`); long → INT64; float
//!   → FLOAT32; double → FLOAT64; boolean; string;
//! - logical types: `decimal` (bytes or fixed) → `Decimal` with `scale` (a `precision` other
//!   than 64 is kept as `connect.decimal.precision`), `date` → `Date`, `time-millis` → `Time`,
//!   `timestamp-millis` → `Timestamp`. Confluent has no Connect logical type for the others:
//!   `timestamp-micros`, `time-micros`, `local-timestamp-*` stay plain INT64 holding the Avro
//!   number (microseconds stay microseconds), `uuid` a plain STRING, `duration` plain BYTES.
//! - The registry's version of the schema becomes the version of the top-level Connect schema
//!   (a `connect.version` property wins), as Confluent's converter sets it.
//!
//! Not supported (a clear error): recursive records (Connect schemas cannot refer to
//! themselves), the `big-decimal` logical type, NaN and infinite floats (no JSON form).
//! Map keys come out sorted (Confluent's order is a Java `HashMap`'s, i.e. unspecified).

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, bail, Context};
use apache_avro::types::Value as AvroValue;
use serde_json::{Map, Value};

use super::payload::{self, set_parameter};
use crate::transforms::{Field, Schema, SchemaKind, DECIMAL};

const NAMESPACE: &str = "io.confluent.connect.avro";
/// Connect schema name of a general union.
pub const UNION: &str = "io.confluent.connect.avro.Union";
const ENUM: &str = "io.confluent.connect.avro.Enum";
const DEFAULT_SCHEMA_FULL_NAME: &str = "io.confluent.connect.avro.ConnectDefault";
const FIELD_DEFAULT_FLAG: &str = "io.confluent.connect.avro.field.default";
const PRECISION_DEFAULT: i64 = 64;
/// The properties of a primitive written as a bare name (`"int"`).
static NO_PROPERTIES: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// A registered Avro schema, ready to convert records: the writer schema for decoding and the
/// Connect schema with the plan that turns decoded values into payload form.
#[derive(Debug)]
pub(crate) struct AvroSchema {
    writer: apache_avro::Schema,
    node: Node,
}

/// One position of the Avro schema: its Connect schema and how values there are converted.
#[derive(Debug, Clone)]
struct Node {
    schema: Schema,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Primitives and logical types: the value and the Connect type say how.
    Scalar,
    /// An enum: the symbol.
    Enum,
    Array(Box<Node>),
    /// An Avro map (string keys).
    Map(Box<Node>),
    /// An array of `MapEntry` records read as a map.
    Entries(Box<Node>, Box<Node>),
    Record(Vec<(String, Node)>),
    /// `["null", T]`, `[T, "null"]` or `[T]`: T's node (its schema already optional).
    Nullable(Box<Node>),
    /// A general union: per member index, the struct field and its node (`None` for null).
    Union(Vec<Option<(String, Node)>>),
}

impl AvroSchema {
    /// Parses the schema text registered under `id` and builds the Connect schema, with
    /// `version` (the registry's version under the record's subject) on the top level.
    pub(crate) fn compile(id: u32, text: &str, version: Option<i32>) -> anyhow::Result<AvroSchema> {
        let writer = apache_avro::Schema::parse_str(text)
            .map_err(|e| anyhow!("schema id {id} is not a valid Avro schema: {e}"))?;
        let json: Value = serde_json::from_str(text).map_err(|e| anyhow!("schema id {id} is not valid JSON: {e}"))?;
        let mut compiler = Compiler::default();
        let node = compiler
            .compile(&json, "", false, None, version)
            .with_context(|| format!("schema id {id} cannot be mapped to a Kafka Connect schema"))?;
        Ok(AvroSchema { writer, node })
    }

    /// The Connect schema of the records.
    pub(crate) fn connect_schema(&self) -> &Schema {
        &self.node.schema
    }

    /// Decodes one record's Avro binary body (after the wire-format header) into payload form.
    pub(crate) fn decode(&self, body: &[u8]) -> anyhow::Result<Value> {
        let mut reader = body;
        // The reader borrows the schema, so it is built per record (it resolves named types).
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&self.writer)
            .build()
            .and_then(|datum_reader| datum_reader.read_value(&mut reader))
            .map_err(|e| anyhow!("the Avro data does not match its writer schema: {e}"))?;
        convert(&self.node, &value, "")
    }
}

/// Builds [`Node`]s from the schema JSON, resolving named types as Avro does.
#[derive(Default)]
struct Compiler<'a> {
    /// Named types seen so far: full name → (definition, the namespace it was defined in).
    named: HashMap<String, (&'a Map<String, Value>, String)>,
    /// Named types being compiled (a reference to one of them is a recursive schema).
    active: HashSet<String>,
}

impl<'a> Compiler<'a> {
    /// `AvroData.toConnectSchema(schema, forceOptional, fieldDefaultVal, docDefaultVal, version)`.
    fn compile(
        &mut self,
        json: &'a Value,
        namespace: &str,
        force_optional: bool,
        field_default: Option<&'a Value>,
        version: Option<i32>,
    ) -> anyhow::Result<Node> {
        match json {
            Value::String(name) if PRIMITIVES.contains(&name.as_str()) => {
                self.compile_typed(name, &NO_PROPERTIES, namespace, force_optional, field_default, version)
            }
            Value::String(name) => self.compile_reference(name, namespace, force_optional, field_default, version),
            Value::Array(members) => self.compile_union(json, members, namespace, force_optional, field_default),
            Value::Object(object) => match object.get("type") {
                Some(Value::String(kind))
                    if PRIMITIVES.contains(&kind.as_str())
                        || ["record", "error", "enum", "array", "map", "fixed"].contains(&kind.as_str()) =>
                {
                    self.compile_typed(kind, object, namespace, force_optional, field_default, version)
                }
                Some(Value::String(name)) => {
                    self.compile_reference(name, namespace, force_optional, field_default, version)
                }
                Some(nested @ (Value::Object(_) | Value::Array(_))) => {
                    self.compile(nested, namespace, force_optional, field_default, version)
                }
                _ => bail!("an Avro schema object needs a \"type\": {json}"),
            },
            other => bail!("not an Avro schema: {other}"),
        }
    }

    fn compile_reference(
        &mut self,
        name: &str,
        namespace: &str,
        force_optional: bool,
        field_default: Option<&'a Value>,
        version: Option<i32>,
    ) -> anyhow::Result<Node> {
        let qualified =
            if name.contains('.') || namespace.is_empty() { None } else { Some(format!("{namespace}.{name}")) };
        let full = match qualified {
            Some(q) if self.named.contains_key(&q) => q,
            _ => name.to_string(),
        };
        if self.active.contains(&full) {
            bail!(
                "`{full}` refers to itself; Kafka Connect schemas cannot be recursive, so sluice does not convert \
                 recursive Avro records"
            );
        }
        let (definition, defined_in) = self
            .named
            .get(&full)
            .cloned()
            .ok_or_else(|| anyhow!("unknown Avro type `{name}` (not defined before it is used)"))?;
        let kind = definition.get("type").and_then(Value::as_str).unwrap_or("record");
        self.compile_typed(kind, definition, &defined_in, force_optional, field_default, version)
    }

    /// A union: `AvroData`'s `case UNION`.
    fn compile_union(
        &mut self,
        json: &'a Value,
        members: &'a [Value],
        namespace: &str,
        force_optional: bool,
        field_default: Option<&'a Value>,
    ) -> anyhow::Result<Node> {
        let is_null = |member: &Value| {
            member.as_str() == Some("null") || member.get("type").and_then(Value::as_str) == Some("null")
        };
        if members.len() == 1 {
            let inner = self.compile(&members[0], namespace, false, None, None)?;
            return Ok(Node { schema: inner.schema.clone(), kind: Kind::Nullable(Box::new(inner)) });
        }
        if members.len() == 2 && members.iter().any(is_null) {
            let member = members.iter().find(|m| !is_null(m)).expect("one member is not null");
            let inner = self.compile(member, namespace, true, None, None)?;
            return Ok(Node { schema: inner.schema.clone(), kind: Kind::Nullable(Box::new(inner)) });
        }
        let mut fields = Vec::new();
        let mut branches = Vec::with_capacity(members.len());
        let mut optional = false;
        for member in members {
            if is_null(member) {
                optional = true;
                branches.push(None);
                continue;
            }
            let name = self.member_name(member, namespace)?;
            if fields.iter().any(|f: &Field| f.name == name) {
                bail!("two members of the union {json} map to the Connect union field `{name}`");
            }
            let node = self.compile(member, namespace, true, None, None)?;
            fields.push(Field::new(name.clone(), node.schema.clone()));
            branches.push(Some((name, node)));
        }
        let mut schema = Schema::structure(fields).named(UNION);
        schema.optional = optional;
        let mut node = Node { schema, kind: Kind::Union(branches) };
        if let Some(default) = field_default {
            set_parameter(&mut node.schema.parameters, FIELD_DEFAULT_FLAG, "true");
            node.schema.default = default_payload(&node, default).ok().filter(|v| !v.is_null());
        }
        if force_optional {
            node.schema.optional = true;
        }
        Ok(node)
    }

    /// A union member's field name: the simple name of a record, enum or fixed, else the
    /// Avro type's name.
    fn member_name(&self, member: &Value, namespace: &str) -> anyhow::Result<String> {
        let kind = match member {
            Value::String(name) => name.as_str(),
            Value::Object(object) => object.get("type").and_then(Value::as_str).unwrap_or("record"),
            _ => bail!("a union may not directly contain another union: {member}"),
        };
        if PRIMITIVES.contains(&kind) || kind == "array" || kind == "map" {
            return Ok(kind.to_string());
        }
        if ["record", "error", "enum", "fixed"].contains(&kind) {
            let name = member.get("name").and_then(Value::as_str).unwrap_or_default();
            return Ok(name.rsplit('.').next().unwrap_or(name).to_string());
        }
        // A reference to a named type: its simple name.
        let resolved = if !kind.contains('.') && !namespace.is_empty() {
            let qualified = format!("{namespace}.{kind}");
            if self.named.contains_key(&qualified) {
                qualified
            } else {
                kind.to_string()
            }
        } else {
            kind.to_string()
        };
        Ok(resolved.rsplit('.').next().unwrap_or(&resolved).to_string())
    }

    /// A schema with an explicit type (`"int"`, `{"type": "record", ...}`): the type's builder,
    /// then the common part of `toConnectSchema` (doc, version, parameters, default, name).
    fn compile_typed(
        &mut self,
        kind: &str,
        props: &'a Map<String, Value>,
        namespace: &str,
        force_optional: bool,
        field_default: Option<&'a Value>,
        version: Option<i32>,
    ) -> anyhow::Result<Node> {
        let logical = props.get("logicalType").and_then(Value::as_str).map(str::to_ascii_lowercase);
        let connect_type = props.get("connect.type").and_then(Value::as_str);
        let mut type_name: Option<String> = None;
        let (mut schema, node_kind) = match kind {
            "null" => bail!("standalone null schemas are not supported by Confluent's converter (only inside unions)"),
            "boolean" => (Schema::new(SchemaKind::Boolean), Kind::Scalar),
            "bytes" | "fixed" => {
                let mut schema = if logical.as_deref() == Some("decimal") {
                    let scale = props.get("scale").and_then(Value::as_i64).unwrap_or(0) as i32;
                    let mut schema = Schema::decimal(scale);
                    if let Some(precision) = props.get("precision") {
                        let precision = precision.as_i64().ok_or_else(|| {
                            anyhow!("the decimal's \"precision\" must be a JSON integer, found {precision}")
                        })?;
                        if precision != PRECISION_DEFAULT {
                            set_parameter(&mut schema.parameters, "connect.decimal.precision", precision.to_string());
                        }
                    }
                    schema
                } else {
                    Schema::new(SchemaKind::Bytes)
                };
                if kind == "fixed" {
                    let (full, _) = full_name(props, namespace)?;
                    let size = props
                        .get("size")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| anyhow!("fixed `{full}` needs a non-negative integer \"size\""))?;
                    set_parameter(&mut schema.parameters, "connect.fixed.size", size.to_string());
                    if schema.name.as_deref() != Some(DECIMAL) {
                        type_name = Some(full.clone());
                    }
                    self.define(&full, props, namespace)?;
                }
                (schema, Kind::Scalar)
            }
            "double" => (Schema::new(SchemaKind::Float64), Kind::Scalar),
            "float" => (Schema::new(SchemaKind::Float32), Kind::Scalar),
            "int" => {
                let schema = match (logical.as_deref(), connect_type) {
                    (Some("date"), _) => Schema::date(),
                    (Some("time-millis"), _) => Schema::time(),
                    (Some(_), _) | (None, None) => Schema::new(SchemaKind::Int32),
                    (None, Some("int8")) => Schema::new(SchemaKind::Int8),
                    (None, Some("int16")) => Schema::new(SchemaKind::Int16),
                    (None, Some(other)) => {
                        bail!("unknown Connect type annotation \"connect.type\": {other:?} on an Avro int (expected int8 or int16)")
                    }
                };
                (schema, Kind::Scalar)
            }
            "long" => {
                let schema = if logical.as_deref() == Some("timestamp-millis") {
                    Schema::timestamp()
                } else {
                    Schema::new(SchemaKind::Int64)
                };
                (schema, Kind::Scalar)
            }
            "string" => (Schema::new(SchemaKind::String), Kind::Scalar),
            "array" => {
                let items = props.get("items").ok_or_else(|| anyhow!("an Avro array needs \"items\""))?;
                match map_entry(items, namespace)? {
                    Some((key, value, entry_namespace)) => {
                        let key = self.compile(key, &entry_namespace, false, None, None)?;
                        let value = self.compile(value, &entry_namespace, false, None, None)?;
                        let schema =
                            Schema::new(SchemaKind::Map(Box::new(key.schema.clone()), Box::new(value.schema.clone())));
                        (schema, Kind::Entries(Box::new(key), Box::new(value)))
                    }
                    None => {
                        let items = self.compile(items, namespace, false, None, None)?;
                        (Schema::new(SchemaKind::Array(Box::new(items.schema.clone()))), Kind::Array(Box::new(items)))
                    }
                }
            }
            "map" => {
                let values = props.get("values").ok_or_else(|| anyhow!("an Avro map needs \"values\""))?;
                let values = self.compile(values, namespace, false, None, None)?;
                let schema = Schema::new(SchemaKind::Map(
                    Box::new(Schema::new(SchemaKind::String)),
                    Box::new(values.schema.clone()),
                ));
                (schema, Kind::Map(Box::new(values)))
            }
            "record" | "error" => {
                let (full, own_namespace) = full_name(props, namespace)?;
                self.define(&full, props, namespace)?;
                self.active.insert(full.clone());
                let mut parameters = Vec::new();
                if let Some(doc) = props.get("doc").and_then(Value::as_str) {
                    set_parameter(&mut parameters, format!("{NAMESPACE}.record.doc"), doc);
                }
                let fields_json = props
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| anyhow!("record `{full}` needs a \"fields\" array"))?;
                let mut fields = Vec::with_capacity(fields_json.len());
                let mut nodes = Vec::with_capacity(fields_json.len());
                for field in fields_json {
                    let name = field
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| anyhow!("a field of record `{full}` has no \"name\""))?;
                    if let Some(doc) = field.get("doc").and_then(Value::as_str) {
                        set_parameter(&mut parameters, format!("{NAMESPACE}.field.doc.{name}"), doc);
                    }
                    let field_type =
                        field.get("type").ok_or_else(|| anyhow!("field `{full}.{name}` has no \"type\""))?;
                    let mut node = self
                        .compile(field_type, &own_namespace, false, field.get("default"), None)
                        .with_context(|| format!("field `{name}` of record `{full}`"))?;
                    if let Some(Value::Object(extra)) = field.get("connect.parameters") {
                        for (key, value) in extra {
                            set_parameter(&mut node.schema.parameters, key.clone(), payload::property_text(value));
                        }
                    }
                    fields.push(Field::new(name, node.schema.clone()));
                    nodes.push((name.to_string(), node));
                }
                self.active.remove(&full);
                let mut schema = Schema::structure(fields);
                schema.parameters = parameters;
                type_name = Some(full);
                (schema, Kind::Record(nodes))
            }
            "enum" => {
                let (full, _) = full_name(props, namespace)?;
                self.define(&full, props, namespace)?;
                let simple = full.rsplit('.').next().unwrap_or(&full).to_string();
                let mut schema = Schema::new(SchemaKind::String);
                if let Some(doc) = props.get("doc").and_then(Value::as_str) {
                    set_parameter(&mut schema.parameters, format!("{NAMESPACE}.enum.doc.{simple}"), doc);
                }
                if let Some(default) = props.get("default").and_then(Value::as_str) {
                    set_parameter(&mut schema.parameters, format!("{NAMESPACE}.enum.default.{simple}"), default);
                }
                set_parameter(&mut schema.parameters, ENUM, full.clone());
                for symbol in props.get("symbols").and_then(Value::as_array).into_iter().flatten() {
                    let symbol = symbol.as_str().unwrap_or_default();
                    set_parameter(&mut schema.parameters, format!("{ENUM}.{symbol}"), symbol);
                }
                type_name = Some(full);
                (schema, Kind::Enum)
            }
            other => bail!("unsupported Avro type `{other}`"),
        };

        if let Some(doc) = props.get("connect.doc").and_then(Value::as_str) {
            schema.doc = Some(doc.to_string());
        }
        let own_version = match props.get("connect.version") {
            Some(v) => Some(
                v.as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| anyhow!("invalid Connect version found: {v}"))?,
            ),
            None => version,
        };
        if let Some(v) = own_version.filter(|v| *v >= 0) {
            match schema.version {
                Some(existing) if existing != v => bail!(
                    "mismatched versions: the Connect schema already has version {existing} (its logical type) but \
                     the source schema says {v}"
                ),
                _ => schema.version = Some(v),
            }
        }
        if let Some(parameters) = props.get("connect.parameters") {
            let parameters = parameters
                .as_object()
                .ok_or_else(|| anyhow!("expected a JSON object for \"connect.parameters\", found {parameters}"))?;
            for (key, value) in parameters {
                let value = value
                    .as_str()
                    .ok_or_else(|| anyhow!("schema parameter values must be strings, found {key}: {value}"))?;
                set_parameter(&mut schema.parameters, key.clone(), value);
            }
        }
        for (key, value) in props {
            if key.starts_with("avro") {
                set_parameter(&mut schema.parameters, key.clone(), payload::property_text(value));
            }
        }
        let connect_default = props.get("connect.default");
        let default_source = match field_default {
            None => connect_default,
            Some(default) => {
                if connect_default.is_none() {
                    set_parameter(&mut schema.parameters, FIELD_DEFAULT_FLAG, "true");
                }
                Some(default)
            }
        };

        let name = match props.get("connect.name") {
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => bail!("invalid schema name: {other}"),
            None => type_name,
        };
        if let Some(name) = name.filter(|n| !n.starts_with(DEFAULT_SCHEMA_FULL_NAME)) {
            match &schema.name {
                Some(existing) if *existing != name => bail!(
                    "mismatched names: the Connect schema is already named `{existing}` (its logical type) but the \
                     source schema names it `{name}`"
                ),
                _ => schema.name = Some(name),
            }
        }
        let mut node = Node { schema, kind: node_kind };
        if let Some(default) = default_source {
            // An invalid default is ignored, as Confluent does (with a warning there).
            node.schema.default = default_payload(&node, default).ok().filter(|v| !v.is_null());
        }
        if force_optional {
            node.schema.optional = true;
        }
        Ok(node)
    }

    /// Records a named type's definition so later references find it. Compiling the same
    /// definition again (through a reference) is fine; two definitions of one name are not.
    fn define(&mut self, full: &str, props: &'a Map<String, Value>, namespace: &str) -> anyhow::Result<()> {
        match self.named.get(full) {
            Some((existing, _)) if std::ptr::eq(*existing, props) => Ok(()),
            Some(_) => bail!("the Avro type `{full}` is defined twice"),
            None => {
                self.named.insert(full.to_string(), (props, namespace.to_string()));
                Ok(())
            }
        }
    }
}

/// When `items` is a `MapEntry` record (Confluent's encoding of maps with non-string
/// keys), its `key` and `value` types.
fn map_entry<'a>(items: &'a Value, namespace: &str) -> anyhow::Result<Option<(&'a Value, &'a Value, String)>> {
    let Some(object) = items.as_object() else { return Ok(None) };
    if !matches!(object.get("type").and_then(Value::as_str), Some("record")) {
        return Ok(None);
    }
    let (full, entry_namespace) = full_name(object, namespace)?;
    let internal = object.get("connect.internal.type").and_then(Value::as_str) == Some("MapEntry");
    if full != format!("{NAMESPACE}.MapEntry") && !internal {
        return Ok(None);
    }
    let fields = object.get("fields").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let find = |name: &str| fields.iter().find(|f| f.get("name").and_then(Value::as_str) == Some(name));
    match (fields.len(), find("key"), find("value")) {
        (2, Some(key), Some(value)) => match (key.get("type"), value.get("type")) {
            (Some(k), Some(v)) => Ok(Some((k, v, entry_namespace))),
            _ => bail!("found a map encoded as an array of key-value records, but its fields have no types"),
        },
        _ => bail!(
            "found a map encoded as an array of key-value pairs, but array elements do not match the expected \
             format (exactly the fields `key` and `value`)"
        ),
    }
}

/// A named type's full name and the namespace its own children use.
fn full_name(props: &Map<String, Value>, enclosing: &str) -> anyhow::Result<(String, String)> {
    let name = props
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("a named Avro type (record, enum, fixed) needs a \"name\""))?;
    if let Some((namespace, _)) = name.rsplit_once('.') {
        return Ok((name.to_string(), namespace.to_string()));
    }
    let namespace = match props.get("namespace") {
        Some(Value::String(ns)) => ns.clone(),
        _ => enclosing.to_string(),
    };
    let full = if namespace.is_empty() { name.to_string() } else { format!("{namespace}.{name}") };
    Ok((full, namespace))
}

/// An Avro default (JSON, Avro's encoding: bytes as ISO-8859-1 text, a union's default for its
/// first member) in payload form for `node`.
fn default_payload(node: &Node, json: &Value) -> Result<Value, String> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let schema = &node.schema;
    let wrong = || format!("invalid default {json} for {}", schema.kind.kafka_name());
    Ok(match &node.kind {
        Kind::Nullable(inner) => default_payload(inner, json)?,
        Kind::Union(branches) => {
            let mut out = Map::new();
            for (i, branch) in branches.iter().enumerate() {
                if let Some((name, member)) = branch {
                    let value = if i == 0 { default_payload(member, json)? } else { Value::Null };
                    out.insert(name.clone(), value);
                }
            }
            if branches.first().is_some_and(Option::is_none) {
                return Ok(Value::Null);
            }
            Value::Object(out)
        }
        Kind::Record(fields) => {
            let object = json.as_object().ok_or_else(wrong)?;
            let mut out = Map::new();
            for (name, field) in fields {
                let value = match object.get(name) {
                    Some(v) => default_payload(field, v)?,
                    None => field.schema.default.clone().unwrap_or(Value::Null),
                };
                if value.is_null() && !field.schema.optional {
                    return Err(format!("the default of field `{name}` is null but the field is required"));
                }
                out.insert(name.clone(), value);
            }
            Value::Object(out)
        }
        Kind::Array(items) => {
            let array = json.as_array().ok_or_else(wrong)?;
            Value::Array(array.iter().map(|v| default_payload(items, v)).collect::<Result<_, _>>()?)
        }
        Kind::Map(values) => {
            let object = json.as_object().ok_or_else(wrong)?;
            let mut out = Map::new();
            for (key, value) in object {
                out.insert(key.clone(), default_payload(values, value)?);
            }
            Value::Object(out)
        }
        Kind::Entries(..) => return Err("defaults of maps with non-string keys are not supported".into()),
        Kind::Enum => Value::from(json.as_str().ok_or_else(wrong)?),
        Kind::Scalar => match &schema.kind {
            SchemaKind::Boolean => Value::Bool(json.as_bool().ok_or_else(wrong)?),
            SchemaKind::Int8 => Value::from(json.as_i64().ok_or_else(wrong)? as i8),
            SchemaKind::Int16 => Value::from(json.as_i64().ok_or_else(wrong)? as i16),
            SchemaKind::Int32 => Value::from(json.as_i64().ok_or_else(wrong)? as i32),
            SchemaKind::Int64 => Value::from(json.as_i64().ok_or_else(wrong)?),
            SchemaKind::Float32 => payload::float32(json.as_f64().ok_or_else(wrong)? as f32)?,
            SchemaKind::Float64 => payload::float64(json.as_f64().ok_or_else(wrong)?)?,
            SchemaKind::String => Value::from(json.as_str().ok_or_else(wrong)?),
            SchemaKind::Bytes => {
                let text = json.as_str().ok_or_else(wrong)?;
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).map_err(|_| wrong()))
                    .collect::<Result<Vec<u8>, _>>()?;
                if schema.name.as_deref() == Some(DECIMAL) {
                    payload::decimal(&bytes)
                } else {
                    payload::base64(&bytes)
                }
            }
            _ => return Err(wrong()),
        },
    })
}

/// Converts a decoded Avro value at `node` into payload form; `at` names the field path.
fn convert(node: &Node, value: &AvroValue, at: &str) -> anyhow::Result<Value> {
    let here = |at: &str| if at.is_empty() { "the record".to_string() } else { format!("field `{at}`") };
    let mismatch =
        || anyhow!("{}: the decoded Avro value {value:?} does not fit {}", here(at), node.schema.kind.kafka_name());
    Ok(match (&node.kind, value) {
        (_, AvroValue::Null) => Value::Null,
        (Kind::Nullable(inner), AvroValue::Union(_, member)) => convert(inner, member, at)?,
        (Kind::Nullable(inner), other) => convert(inner, other, at)?,
        (Kind::Union(branches), AvroValue::Union(index, member)) => {
            let Some(branch) = branches.get(*index as usize) else { return Err(mismatch()) };
            let Some((chosen, member_node)) = branch else { return Ok(Value::Null) };
            let mut out = Map::new();
            for (name, branch_node) in branches.iter().flatten() {
                let converted = if name == chosen {
                    convert(member_node, member, &join(at, name))?
                } else {
                    let _ = branch_node;
                    Value::Null
                };
                out.insert(name.clone(), converted);
            }
            Value::Object(out)
        }
        (Kind::Record(fields), AvroValue::Record(items)) => {
            let mut out = Map::new();
            for ((name, field), (item_name, item)) in fields.iter().zip(items) {
                debug_assert_eq!(name, item_name);
                out.insert(name.clone(), convert(field, item, &join(at, name))?);
            }
            Value::Object(out)
        }
        (Kind::Array(items), AvroValue::Array(values)) => Value::Array(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| convert(items, v, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (Kind::Map(values), AvroValue::Map(entries)) => {
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), convert(values, &entries[key], &join(at, key))?);
            }
            Value::Object(out)
        }
        (Kind::Entries(key_node, value_node), AvroValue::Array(entries)) => {
            let mut pairs = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let AvroValue::Record(parts) = entry else { return Err(mismatch()) };
                let part = |name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, v)| v).ok_or_else(mismatch);
                let key = convert(key_node, part("key")?, &format!("{at}[{i}].key"))?;
                let value = convert(value_node, part("value")?, &format!("{at}[{i}].value"))?;
                pairs.push((key, value));
            }
            if key_node.schema.kind == SchemaKind::String {
                let mut out = Map::new();
                for (key, value) in pairs {
                    out.insert(key.as_str().unwrap_or_default().to_string(), value);
                }
                Value::Object(out)
            } else {
                Value::Array(pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect())
            }
        }
        (Kind::Enum, AvroValue::Enum(_, symbol)) => Value::from(symbol.clone()),
        (Kind::Scalar, scalar) => scalar_payload(&node.schema, scalar).map_err(|e| anyhow!("{}: {e}", here(at)))?,
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

/// A primitive or logical value in payload form for `schema`.
fn scalar_payload(schema: &Schema, value: &AvroValue) -> Result<Value, String> {
    let decimal = schema.name.as_deref() == Some(DECIMAL);
    let bytes = |bytes: &[u8]| if decimal { payload::decimal(bytes) } else { payload::base64(bytes) };
    Ok(match value {
        AvroValue::Boolean(b) => Value::Bool(*b),
        AvroValue::Int(i) | AvroValue::Date(i) | AvroValue::TimeMillis(i) => match schema.kind {
            SchemaKind::Int8 => Value::from(*i as i8),
            SchemaKind::Int16 => Value::from(*i as i16),
            _ => Value::from(*i),
        },
        AvroValue::Long(l)
        | AvroValue::TimeMicros(l)
        | AvroValue::TimestampMillis(l)
        | AvroValue::TimestampMicros(l)
        | AvroValue::TimestampNanos(l)
        | AvroValue::LocalTimestampMillis(l)
        | AvroValue::LocalTimestampMicros(l)
        | AvroValue::LocalTimestampNanos(l) => Value::from(*l),
        AvroValue::Float(f) => payload::float32(*f)?,
        AvroValue::Double(d) => payload::float64(*d)?,
        AvroValue::String(s) => Value::from(s.clone()),
        AvroValue::Uuid(uuid) if schema.kind == SchemaKind::Bytes => payload::base64(uuid.as_bytes()),
        AvroValue::Uuid(uuid) => Value::from(uuid.hyphenated().to_string()),
        AvroValue::Bytes(b) | AvroValue::Fixed(_, b) => bytes(b),
        AvroValue::Decimal(d) => {
            let raw = Vec::<u8>::try_from(d).map_err(|e| format!("invalid decimal: {e}"))?;
            payload::decimal(&raw)
        }
        AvroValue::Duration(d) => payload::base64(&<[u8; 12]>::from(*d)),
        AvroValue::BigDecimal(_) => {
            return Err("the Avro `big-decimal` logical type is not supported by sluice's AvroConverter".into())
        }
        other => return Err(format!("unexpected Avro value {other:?} for {}", schema.kind.kafka_name())),
    })
}
