//! Kafka Connect's schema type as JsonConverter writes it (`{"type":"struct","fields":[..],
//! "optional":false,"name":..,"version":..,"doc":..,"parameters":{..},"default":..}`), and the
//! `SetSchemaMetadata` transform, which renames or re-versions one.

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use super::config::Settings;
use super::record::{ConnectRecord, Part};
use super::{converter, struct_map, DataError, Touches, Transform};

/// Logical name of `Decimal` (bytes holding the big-endian two's complement unscaled value,
/// with the scale in the `scale` parameter).
pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// Logical name of `Date` (int32 days since 1970-01-01).
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
/// Logical name of `Time` (int32 milliseconds since midnight).
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
/// Logical name of `Timestamp` (int64 milliseconds since the epoch).
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// The type of a schema, with the schemas of its parts for arrays, maps and structs.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaKind {
    /// `int8`.
    Int8,
    /// `int16`.
    Int16,
    /// `int32` (also `Date` and `Time`).
    Int32,
    /// `int64` (also `Timestamp`).
    Int64,
    /// FLOAT32, written `float` on the wire.
    Float32,
    /// FLOAT64, written `double` on the wire.
    Float64,
    /// `boolean`.
    Boolean,
    /// `string`.
    String,
    /// `bytes` (also `Decimal`), base64 in JSON.
    Bytes,
    /// `array` with its `items` schema.
    Array(Box<Schema>),
    /// `map` with its `keys` and `values` schemas.
    Map(Box<Schema>, Box<Schema>),
    /// `struct` with its fields, in order.
    Struct(Vec<Field>),
}

impl SchemaKind {
    /// Kafka's name of the type (`INT32`, `FLOAT64`, `STRUCT`...), as Kafka's messages print it.
    pub fn kafka_name(&self) -> &'static str {
        match self {
            SchemaKind::Int8 => "INT8",
            SchemaKind::Int16 => "INT16",
            SchemaKind::Int32 => "INT32",
            SchemaKind::Int64 => "INT64",
            SchemaKind::Float32 => "FLOAT32",
            SchemaKind::Float64 => "FLOAT64",
            SchemaKind::Boolean => "BOOLEAN",
            SchemaKind::String => "STRING",
            SchemaKind::Bytes => "BYTES",
            SchemaKind::Array(_) => "ARRAY",
            SchemaKind::Map(..) => "MAP",
            SchemaKind::Struct(_) => "STRUCT",
        }
    }

    /// The type's name in JsonConverter's envelope (`int32`, `float`, `double`, `struct`...).
    pub fn wire_name(&self) -> &'static str {
        match self {
            SchemaKind::Int8 => "int8",
            SchemaKind::Int16 => "int16",
            SchemaKind::Int32 => "int32",
            SchemaKind::Int64 => "int64",
            SchemaKind::Float32 => "float",
            SchemaKind::Float64 => "double",
            SchemaKind::Boolean => "boolean",
            SchemaKind::String => "string",
            SchemaKind::Bytes => "bytes",
            SchemaKind::Array(_) => "array",
            SchemaKind::Map(..) => "map",
            SchemaKind::Struct(_) => "struct",
        }
    }

    /// True for the types without parts (numbers, boolean, string, bytes).
    pub fn is_primitive(&self) -> bool {
        !matches!(self, SchemaKind::Array(_) | SchemaKind::Map(..) | SchemaKind::Struct(_))
    }
}

/// One field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The field's schema.
    pub schema: Schema,
}

impl Field {
    /// A field named `name` with `schema`.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        Field { name: name.into(), schema }
    }
}

/// A Kafka Connect schema. Values that follow it are kept in JsonConverter's payload form
/// (see [`super::Data`]); `default` is in that form too.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The type, with the schemas of its parts.
    pub kind: SchemaKind,
    /// Whether null is a valid value.
    pub optional: bool,
    /// The default value, used for a null value when set.
    pub default: Option<Value>,
    /// The schema's name (a logical type's name for `Decimal`, `Date`, `Time`, `Timestamp`).
    pub name: Option<String>,
    /// The schema's version.
    pub version: Option<i32>,
    /// Documentation.
    pub doc: Option<String>,
    /// String parameters, in order (`Decimal` keeps its `scale` here); empty when none.
    pub parameters: Vec<(String, String)>,
}

impl Schema {
    /// A required schema of `kind`, with no name, default or parameters.
    pub fn new(kind: SchemaKind) -> Self {
        Schema { kind, optional: false, default: None, name: None, version: None, doc: None, parameters: Vec::new() }
    }

    /// A required struct schema with `fields`.
    pub fn structure(fields: Vec<Field>) -> Self {
        Schema::new(SchemaKind::Struct(fields))
    }

    /// The same schema made optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The same schema with `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same schema with `version`.
    pub fn with_version(mut self, version: i32) -> Self {
        self.version = Some(version);
        self
    }

    /// The same schema with `default` (in payload form).
    pub fn with_default(mut self, default: Value) -> Self {
        self.default = Some(default);
        self
    }

    /// The same schema with parameter `key` set to `value`.
    pub fn with_parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.parameters.retain(|(k, _)| *k != key);
        self.parameters.push((key, value.into()));
        self
    }

    /// Kafka's `Timestamp` logical schema (int64, version 1).
    pub fn timestamp() -> Self {
        Schema::new(SchemaKind::Int64).named(TIMESTAMP).with_version(1)
    }

    /// Kafka's `Date` logical schema (int32, version 1).
    pub fn date() -> Self {
        Schema::new(SchemaKind::Int32).named(DATE).with_version(1)
    }

    /// Kafka's `Time` logical schema (int32, version 1).
    pub fn time() -> Self {
        Schema::new(SchemaKind::Int32).named(TIME).with_version(1)
    }

    /// Kafka's `Decimal` logical schema with `scale` (bytes, version 1).
    pub fn decimal(scale: i32) -> Self {
        Schema::new(SchemaKind::Bytes).named(DECIMAL).with_version(1).with_parameter("scale", scale.to_string())
    }

    /// A parameter's value.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The fields of a struct schema (empty for other types).
    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            SchemaKind::Struct(fields) => fields,
            _ => &[],
        }
    }

    /// The field called `name` of a struct schema.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// True for a struct schema.
    pub fn is_struct(&self) -> bool {
        matches!(self.kind, SchemaKind::Struct(_))
    }

    /// The logical type name (`Decimal`, `Date`, `Time`, `Timestamp`) when the schema is one.
    pub fn logical(&self) -> Option<&'static str> {
        let name = self.name.as_deref()?;
        [DECIMAL, DATE, TIME, TIMESTAMP].into_iter().find(|logical| *logical == name)
    }

    /// The scale of a `Decimal` schema.
    pub fn decimal_scale(&self) -> Result<i32, String> {
        let scale = self.parameter("scale").ok_or("Decimal schema has no `scale` parameter")?;
        scale.trim().parse().map_err(|_| format!("Decimal schema has an invalid `scale` parameter {scale:?}"))
    }

    /// A required schema of `kind` with this schema's name, version, doc and parameters
    /// (Kafka's `SchemaUtil.copySchemaBasics`): not optional and without a default.
    pub fn basics_with(&self, kind: SchemaKind) -> Schema {
        Schema {
            kind,
            optional: false,
            default: None,
            name: self.name.clone(),
            version: self.version,
            doc: self.doc.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// Reads a schema as JsonConverter writes it in the `schema` half of its envelope.
    /// `float`/`double` are FLOAT32/FLOAT64, and a `default` is converted like a payload.
    pub fn from_json(json: &Value) -> anyhow::Result<Schema> {
        Schema::from_json_at(json, "schema")
    }

    fn from_json_at(json: &Value, at: &str) -> anyhow::Result<Schema> {
        let object = json.as_object().ok_or_else(|| anyhow!("{at}: a schema must be a JSON object, found {json}"))?;
        let type_name = object
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{at}: schema must contain a 'type' field (a string)"))?;
        let kind = match type_name {
            "int8" => SchemaKind::Int8,
            "int16" => SchemaKind::Int16,
            "int32" => SchemaKind::Int32,
            "int64" => SchemaKind::Int64,
            "float" => SchemaKind::Float32,
            "double" => SchemaKind::Float64,
            "boolean" => SchemaKind::Boolean,
            "string" => SchemaKind::String,
            "bytes" => SchemaKind::Bytes,
            "array" => {
                let items = object.get("items").filter(|v| !v.is_null()).ok_or_else(|| {
                    anyhow!("{at}: array schema did not specify the element type (`items`)")
                })?;
                SchemaKind::Array(Box::new(Schema::from_json_at(items, &format!("{at}.items"))?))
            }
            "map" => {
                let keys = object.get("keys").ok_or_else(|| anyhow!("{at}: map schema did not specify the key type"))?;
                let values =
                    object.get("values").ok_or_else(|| anyhow!("{at}: map schema did not specify the value type"))?;
                SchemaKind::Map(
                    Box::new(Schema::from_json_at(keys, &format!("{at}.keys"))?),
                    Box::new(Schema::from_json_at(values, &format!("{at}.values"))?),
                )
            }
            "struct" => {
                let fields = object
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| anyhow!("{at}: struct schema's \"fields\" argument is not an array"))?;
                let mut parsed: Vec<Field> = Vec::with_capacity(fields.len());
                for field in fields {
                    let name = field.get("field").and_then(Value::as_str).ok_or_else(|| {
                        anyhow!("{at}: struct schema's field name not specified properly (each field needs \"field\")")
                    })?;
                    if parsed.iter().any(|f| f.name == name) {
                        bail!("{at}: field name `{name}` appears twice");
                    }
                    parsed.push(Field::new(name, Schema::from_json_at(field, &format!("{at}.{name}"))?));
                }
                SchemaKind::Struct(parsed)
            }
            "float32" | "float64" => bail!(
                "{at}: unknown schema type `{type_name}`: JsonConverter writes FLOAT32 as `float` and FLOAT64 as `double`"
            ),
            other => bail!("{at}: unknown schema type `{other}`"),
        };
        let mut schema = Schema::new(kind);
        schema.optional = object.get("optional").and_then(Value::as_bool).unwrap_or(false);
        schema.name = object.get("name").and_then(Value::as_str).map(str::to_string);
        schema.version = object.get("version").and_then(Value::as_i64).map(|v| v as i32);
        schema.doc = object.get("doc").and_then(Value::as_str).map(str::to_string);
        if let Some(parameters) = object.get("parameters").and_then(Value::as_object) {
            for (key, value) in parameters {
                let value =
                    value.as_str().ok_or_else(|| anyhow!("{at}: schema parameters must have string values ({key})"))?;
                schema.parameters.push((key.clone(), value.to_string()));
            }
        }
        if let Some(default) = object.get("default").filter(|v| !v.is_null()) {
            let value =
                converter::to_connect(&schema, default, at).with_context(|| format!("{at}: invalid default"))?;
            schema.default = Some(value);
        }
        Ok(schema)
    }

    /// Writes the schema as JsonConverter does (the same keys in the same order).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), Value::from(self.kind.wire_name()));
        match &self.kind {
            SchemaKind::Array(items) => {
                out.insert("items".into(), items.to_json());
            }
            SchemaKind::Map(keys, values) => {
                out.insert("keys".into(), keys.to_json());
                out.insert("values".into(), values.to_json());
            }
            SchemaKind::Struct(fields) => {
                let fields = fields
                    .iter()
                    .map(|field| {
                        let mut json = field.schema.to_json();
                        if let Value::Object(map) = &mut json {
                            map.insert("field".into(), Value::from(field.name.clone()));
                        }
                        json
                    })
                    .collect();
                out.insert("fields".into(), Value::Array(fields));
            }
            _ => {}
        }
        out.insert("optional".into(), Value::Bool(self.optional));
        if let Some(name) = &self.name {
            out.insert("name".into(), Value::from(name.clone()));
        }
        if let Some(version) = self.version {
            out.insert("version".into(), Value::from(version));
        }
        if let Some(doc) = &self.doc {
            out.insert("doc".into(), Value::from(doc.clone()));
        }
        if !self.parameters.is_empty() {
            let parameters = self.parameters.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
            out.insert("parameters".into(), Value::Object(parameters));
        }
        if let Some(default) = &self.default {
            out.insert("default".into(), default.clone());
        }
        Value::Object(out)
    }
}

/// `SetSchemaMetadata$Key` / `$Value`: sets the name and/or version of the key's or value's
/// schema, leaving everything else as it was.
#[derive(Debug)]
pub(crate) struct SetSchemaMetadata {
    part: Part,
    name: Option<String>,
    version: Option<i32>,
    replace_null_with_default: bool,
}

impl SetSchemaMetadata {
    pub(crate) fn build(settings: &mut Settings, part: Part) -> anyhow::Result<Self> {
        let name = settings.string("schema.name");
        let version = settings.int("schema.version")?;
        let replace_null_with_default = settings.bool_or("replace.null.with.default", true)?;
        if name.is_none() && version.is_none() {
            return Err(settings.error_for(
                "schema.name",
                "neither schema name nor version configured: set `schema.name` and/or `schema.version`",
            ));
        }
        Ok(SetSchemaMetadata { part, name, version, replace_null_with_default })
    }
}

impl Transform for SetSchemaMetadata {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        let data = record.part_mut(self.part);
        if data.schema.is_none() && data.value.is_null() {
            return Ok(Some(record));
        }
        let Some(schema) = data.schema.as_mut() else {
            return Err(DataError::new(
                "Schema required for [updating schema metadata]; the data has none (schemaless JSON); \
                 use a converter with schemas (JsonConverter with schemas.enable=true)",
            ));
        };
        if let Some(name) = &self.name {
            schema.name = Some(name.clone());
        }
        if let Some(version) = self.version {
            schema.version = Some(version);
        }
        if self.replace_null_with_default && schema.is_struct() && data.value.is_object() {
            let value = std::mem::take(&mut data.value);
            data.value = Value::Object(struct_map(schema, value, "updating schema metadata", true)?);
        }
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
    use crate::transforms::record::Data;
    use crate::transforms::test_support::{chain, record_with_value};

    #[test]
    fn reads_and_writes_the_reference_envelope_schema() {
        // The envelope from kafka_connect.md §4 (JsonConverter's documented form).
        let json = json!({"type":"struct","optional":false,"name":"ev","fields":[
            {"field":"id","type":"int64","optional":false},
            {"field":"amt","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal",
             "version":1,"parameters":{"scale":"2"}},
            {"field":"ts","type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1},
            {"field":"tags","type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true}},
            {"field":"xs","type":"array","items":{"type":"double","optional":false}}]});
        let schema = Schema::from_json(&json).unwrap();
        assert_eq!(schema.name.as_deref(), Some("ev"));
        assert_eq!(schema.fields().len(), 5);
        assert_eq!(schema.field("amt").unwrap().schema.logical(), Some(DECIMAL));
        assert_eq!(schema.field("amt").unwrap().schema.decimal_scale(), Ok(2));
        assert_eq!(
            schema.field("xs").unwrap().schema.kind,
            SchemaKind::Array(Box::new(Schema::new(SchemaKind::Float64)))
        );
        // Written back in JsonConverter's key order: type, parts, optional, name, version, doc,
        // parameters, default; a field's name comes last.
        let written = schema.to_json();
        assert_eq!(
            written["fields"][1],
            json!({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,
                   "parameters":{"scale":"2"},"field":"amt"})
        );
        assert_eq!(
            serde_json::to_string(&written["fields"][0]).unwrap(),
            r#"{"type":"int64","optional":false,"field":"id"}"#
        );
        assert_eq!(Schema::from_json(&written).unwrap(), schema);
    }

    #[test]
    fn float32_is_written_float() {
        let error = Schema::from_json(&json!({"type":"float32"})).unwrap_err().to_string();
        assert!(error.contains("`float`"), "{error}");
        assert_eq!(Schema::new(SchemaKind::Float32).to_json(), json!({"type":"float","optional":false}));
    }

    #[test]
    fn default_is_read_like_a_payload() {
        let schema = Schema::from_json(&json!({"type":"int32","optional":true,"default":7})).unwrap();
        assert_eq!(schema.default, Some(json!(7)));
    }

    // SetSchemaMetadataTest.schemaNameUpdate / schemaVersionUpdate / schemaNameAndVersionUpdate:
    // the name and version change, the fields and the value stay.
    #[test]
    fn set_schema_metadata_renames_and_versions() {
        let chain = chain(&[
            ("transforms", "meta"),
            ("transforms.meta.type", "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value"),
            ("transforms.meta.schema.name", "foo"),
            ("transforms.meta.schema.version", "42"),
        ]);
        let schema = Schema::structure(vec![Field::new("stringField", Schema::new(SchemaKind::String))]).named("bar");
        let value = json!({"stringField": "value"});
        let out = chain.apply(record_with_value(Data::new(Some(schema), value.clone()))).unwrap().unwrap();
        let out_schema = out.value.schema.unwrap();
        assert_eq!(out_schema.name.as_deref(), Some("foo"));
        assert_eq!(out_schema.version, Some(42));
        assert_eq!(out_schema.fields().len(), 1);
        assert_eq!(out.value.value, value);
    }

    // SetSchemaMetadataTest.valueSchemaRequired: schemaless data is refused; a null schemaless
    // value (tombstone) passes.
    #[test]
    fn set_schema_metadata_needs_a_schema() {
        let chain = chain(&[
            ("transforms", "meta"),
            ("transforms.meta.type", "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value"),
            ("transforms.meta.schema.version", "42"),
        ]);
        let error = chain.apply(record_with_value(Data::schemaless(json!({"a": 1})))).unwrap_err();
        assert!(error.to_string().contains("Schema required"), "{error}");
        let tombstone = chain.apply(record_with_value(Data::null())).unwrap().unwrap();
        assert_eq!(tombstone.value, Data::null());
        // A null struct with a schema keeps its null and gets the new version.
        let schema = Schema::structure(vec![Field::new("a", Schema::new(SchemaKind::Int32))]);
        let out = chain.apply(record_with_value(Data::new(Some(schema.clone()), Value::Null))).unwrap().unwrap();
        assert_eq!(out.value, Data::new(Some(schema.with_version(42)), Value::Null));
    }

    #[test]
    fn set_schema_metadata_needs_a_setting() {
        let error = crate::transforms::Chain::from_config(&crate::transforms::test_support::entries(&[
            ("transforms", "meta"),
            ("transforms.meta.type", "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("transforms.meta.schema.name"), "{error}");
    }
}
