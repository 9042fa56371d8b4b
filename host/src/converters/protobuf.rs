//! Protobuf to Kafka Connect data, following Confluent's `ProtobufData.toConnectSchema` /
//! `toConnectData` with the `ProtobufConverter` defaults (`enhanced.protobuf.schema.support=false`,
//! `int.for.enums=false`, `optional.for.nullables=false`, `wrapper.for.nullables=false`,
//! `generate.struct.for.nulls=false`, `generate.index.for.unions=true`, `flatten.unions=false`).
//!
//! The registry's `.proto` text (or base64 file descriptor) is compiled by `protox` (imports of
//! Google's well-known `google/protobuf/*.proto` files resolve to the copies it ships) and records are decoded
//! dynamically by `prost-reflect`. After Confluent's 5-byte header, the body starts with the
//! message indexes (a zig-zag varint count, then that many zig-zag varint indexes; a single 0
//! for the file's first message) naming which message of the file the record is.
//!
//! The mapping:
//! - message → STRUCT named with the message's simple name; the top-level one is required and
//!   carries the registry version, every field is optional and has the parameter
//!   `io.confluent.connect.protobuf.Tag=<field number>`;
//! - int32 → INT32; sint32 / sfixed32 → INT32 with `io.confluent.connect.protobuf.Type`;
//!   int64 → INT64; uint32, fixed32, uint64, sint64, fixed64, sfixed64 → INT64 with that
//!   parameter (uint32 values read unsigned, uint64 as Java's signed long); float → FLOAT32;
//!   double → FLOAT64; bool; string; bytes → BYTES;
//! - enum → optional STRING named with the enum's simple name, with the parameters
//!   `io.confluent.connect.protobuf.Enum=<name>` and `...Enum.<symbol>=<number>`; the value is
//!   the symbol (an unknown number is its decimal text);
//! - `google.protobuf.Timestamp` → `Timestamp` (milliseconds, nanoseconds truncated);
//!   `google.type.Date` → `Date` (days); `google.type.TimeOfDay` → `Time` (milliseconds);
//! - repeated → optional ARRAY of optional elements; `map<K, V>` → MAP named after the field
//!   (`tags` for `TagsEntry`) with key and value schemas tagged 1 and 2;
//! - a oneof → an optional STRUCT field `<oneof>_<index>` named
//!   `io.confluent.connect.protobuf.Union.<oneof>` holding its members (only the set one
//!   non-null), placed before the message's other fields, as Confluent orders them.
//! - Values: an unset scalar or repeated field has its default (0, "", false, empty list),
//!   an unset message field (and an unset `optional` scalar) is null.
//!
//! Imports other than Google's come from the schema's registry `references` (each fetched by
//! subject and version, transitively).
//!
//! Not supported (a clear error): recursive messages, Confluent's `confluent/type/decimal.proto`
//! and `google/type/*.proto` files other than `date.proto` and `timeofday.proto` (not bundled;
//! the Python serializer does not register them as references), NaN and infinite floats (no JSON form). Map entries come
//! out sorted by key (Confluent's order is a Java `HashMap`'s, i.e. unspecified).

use std::collections::HashMap;
use std::sync::RwLock;

use anyhow::{anyhow, bail, Context};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value as PbValue,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::{Map, Value};

use super::payload;
use crate::transforms::{Field, Schema, SchemaKind};

const NAMESPACE: &str = "io.confluent.connect.protobuf";
const TIMESTAMP_TYPE: &str = "google.protobuf.Timestamp";
const DATE_TYPE: &str = "google.type.Date";
const TIME_TYPE: &str = "google.type.TimeOfDay";

/// The two `google/type` files ProtobufData maps to Connect logical types, as the protobuf
/// wire sees them (the messages and field numbers of Google's published files; their
/// comments and options do not change the encoding).
const GOOGLE_TYPE_FILES: &[(&str, &str)] = &[
    (
        "google/type/date.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         message Date { int32 year = 1; int32 month = 2; int32 day = 3; }\n",
    ),
    (
        "google/type/timeofday.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }\n",
    ),
];
/// The name the registry's text is compiled under.
const ROOT_FILE: &str = "registered.proto";

/// A compiled Protobuf schema: its file's messages, with the Connect schema of each message
/// a record has named (built on first use).
#[derive(Debug)]
pub(crate) struct ProtobufSchema {
    id: u32,
    version: Option<i32>,
    /// The registered file's name in `pool`.
    root: String,
    pool: DescriptorPool,
    schemas: RwLock<HashMap<String, Schema>>,
}

/// One registered file: `.proto` text (what the registry answers by default) or a base64
/// `FileDescriptorProto` (its `format=serialized` form, and what Confluent's Python serializer
/// registers).
enum Source {
    Text(String),
    Descriptor(Vec<u8>),
}

impl Source {
    /// The source and, for a descriptor, the file name it gives itself.
    fn new(text: &str) -> (Source, Option<String>) {
        let trimmed = text.trim();
        if !trimmed.contains(char::is_whitespace) {
            if let Some(bytes) = payload::base64_decode(trimmed) {
                if let Ok(file) = File::decode_file_descriptor_proto(bytes.as_slice()) {
                    if !file.name().is_empty() {
                        return (Source::Descriptor(bytes), Some(file.name().to_string()));
                    }
                }
            }
        }
        (Source::Text(text.to_string()), None)
    }
}

/// The registered schema and the schemas it references, by file name; Google's well-known
/// files come from the next resolver.
struct RegisteredFiles(Vec<(String, Source)>);

impl FileResolver for RegisteredFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.iter().find(|(own, _)| own == name) {
            Some((_, Source::Text(text))) => File::from_source(name, text),
            Some((_, Source::Descriptor(bytes))) => {
                File::decode_file_descriptor_proto(bytes.as_slice()).map_err(protox::Error::new)
            }
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

impl ProtobufSchema {
    /// Compiles schema `id` (`.proto` text or a base64 `FileDescriptorProto`) with the schemas
    /// its references name (`imports`: import name, text); `version` goes on the top-level
    /// Connect schema.
    pub(crate) fn compile(
        id: u32,
        text: &str,
        imports: &[(String, String)],
        version: Option<i32>,
    ) -> anyhow::Result<ProtobufSchema> {
        let (source, own_name) = Source::new(text);
        let root = own_name.unwrap_or_else(|| ROOT_FILE.to_string());
        let mut files = vec![(root.clone(), source)];
        for (name, text) in imports {
            files.push((name.clone(), Source::new(text).0));
        }
        for (name, text) in GOOGLE_TYPE_FILES {
            if !files.iter().any(|(known, _)| known == name) {
                files.push((name.to_string(), Source::Text(text.to_string())));
            }
        }
        let mut resolver = ChainFileResolver::new();
        resolver.add(RegisteredFiles(files));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler.open_file(&root).map_err(|e| {
            anyhow!(
                "schema id {id} is not a Protobuf schema sluice can compile: {e} (an import must be a \
                 google/protobuf/*.proto file, google/type/date.proto or timeofday.proto, or one of the \
                 schema's registry references)"
            )
        })?;
        let pool = compiler.descriptor_pool();
        if pool.get_file_by_name(&root).is_none_or(|f| f.messages().len() == 0) {
            bail!("schema id {id} defines no message");
        }
        Ok(ProtobufSchema { id, version, root, pool, schemas: RwLock::new(HashMap::new()) })
    }

    /// Decodes a record body (message indexes, then the message) into its Connect schema and
    /// payload-form value.
    pub(crate) fn decode(&self, body: &[u8]) -> anyhow::Result<(Schema, Value)> {
        let (indexes, rest) = message_indexes(body)?;
        let descriptor = self.message(&indexes)?;
        let schema = self.schema_of(&descriptor)?;
        let message = DynamicMessage::decode(descriptor.clone(), rest)
            .map_err(|e| anyhow!("not a valid `{}` message: {e}", descriptor.full_name()))?;
        let value = message_value(&message).map_err(|e| anyhow!("{e}"))?;
        Ok((schema, value))
    }

    /// The message the indexes name: the file's `indexes[0]`th message, then nested ones.
    fn message(&self, indexes: &[i64]) -> anyhow::Result<MessageDescriptor> {
        let file = self.pool.get_file_by_name(&self.root).expect("checked at compile");
        let missing = || anyhow!("message indexes {indexes:?} name no message of schema id {}", self.id);
        let first = usize::try_from(indexes[0]).map_err(|_| missing())?;
        let mut message = file.messages().nth(first).ok_or_else(missing)?;
        for &index in &indexes[1..] {
            let index = usize::try_from(index).map_err(|_| missing())?;
            let child = message.child_messages().nth(index);
            message = child.ok_or_else(missing)?;
        }
        Ok(message)
    }

    fn schema_of(&self, descriptor: &MessageDescriptor) -> anyhow::Result<Schema> {
        if let Some(found) = self.schemas.read().unwrap_or_else(|e| e.into_inner()).get(descriptor.full_name()) {
            return Ok(found.clone());
        }
        let mut schema = struct_schema(descriptor, &mut Vec::new())
            .with_context(|| format!("schema id {}, message `{}`", self.id, descriptor.full_name()))?;
        schema.optional = false;
        if let Some(version) = self.version {
            schema = schema.with_version(version);
        }
        self.schemas
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(descriptor.full_name().to_string(), schema.clone());
        Ok(schema)
    }
}

/// Reads the message indexes: a zig-zag varint count (0 meaning the single index 0), then
/// the indexes; returns them and the message bytes.
fn message_indexes(body: &[u8]) -> anyhow::Result<(Vec<i64>, &[u8])> {
    let mut at = 0;
    let mut next = || -> anyhow::Result<i64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *body.get(at).ok_or_else(|| {
                anyhow!("the message indexes after the schema id are cut short: not Confluent's Protobuf wire format")
            })?;
            at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        bail!("a message index is not a valid varint")
    };
    let count = next()?;
    let indexes = match count {
        0 => vec![0],
        1..=64 => (0..count).map(|_| next()).collect::<anyhow::Result<Vec<_>>>()?,
        _ => bail!("{count} message indexes: not Confluent's Protobuf wire format"),
    };
    Ok((indexes, &body[at..]))
}

/// The STRUCT schema of a message (optional, as a field's); `stack` guards against recursion.
fn struct_schema(descriptor: &MessageDescriptor, stack: &mut Vec<String>) -> anyhow::Result<Schema> {
    if stack.iter().any(|n| n == descriptor.full_name()) {
        bail!("message `{}` contains itself; Connect schemas cannot be recursive", descriptor.full_name());
    }
    stack.push(descriptor.full_name().to_string());
    let mut fields = Vec::new();
    for (index, oneof) in descriptor.oneofs().filter(|o| !o.is_synthetic()).enumerate() {
        let mut members = Vec::new();
        for field in oneof.fields() {
            members.push(Field::new(field.name(), field_schema(&field, stack)?));
        }
        fields.push(Field::new(
            format!("{}_{index}", oneof.name()),
            Schema::structure(members).named(format!("{NAMESPACE}.Union.{}", oneof.name())).optional(),
        ));
    }
    for field in descriptor.fields().filter(|f| real_oneof(f).is_none()) {
        fields.push(Field::new(field.name(), field_schema(&field, stack)?));
    }
    stack.pop();
    Ok(Schema::structure(fields).named(descriptor.name()).optional())
}

/// The field's oneof, unless it is the synthetic one of a proto3 `optional` field.
fn real_oneof(field: &FieldDescriptor) -> Option<prost_reflect::OneofDescriptor> {
    field.containing_oneof().filter(|o| !o.is_synthetic())
}

/// The schema of one field, with its tag; every field is optional.
fn field_schema(field: &FieldDescriptor, stack: &mut Vec<String>) -> anyhow::Result<Schema> {
    let schema = if field.is_map() {
        let Kind::Message(entry) = field.kind() else { bail!("map field `{}` has no entry message", field.name()) };
        let key = field_schema(&entry.map_entry_key_field(), stack)?;
        let value = field_schema(&entry.map_entry_value_field(), stack)?;
        Schema::new(SchemaKind::Map(Box::new(key), Box::new(value))).named(map_name(entry.name())).optional()
    } else {
        let element = kind_schema(field, stack)?.optional();
        if field.is_list() {
            Schema::new(SchemaKind::Array(Box::new(element))).optional()
        } else {
            element
        }
    };
    Ok(schema.with_parameter(format!("{NAMESPACE}.Tag"), field.number().to_string()))
}

/// `ProtobufSchema.toMapField`: `TagsEntry` → `tags`.
fn map_name(entry: &str) -> String {
    let base = entry.strip_suffix("Entry").unwrap_or(entry);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The schema of a field's type, before repetition and its tag.
fn kind_schema(field: &FieldDescriptor, stack: &mut Vec<String>) -> anyhow::Result<Schema> {
    let typed = |kind: SchemaKind, proto: &str| Schema::new(kind).with_parameter(format!("{NAMESPACE}.Type"), proto);
    Ok(match field.kind() {
        Kind::Int32 => Schema::new(SchemaKind::Int32),
        Kind::Sint32 => typed(SchemaKind::Int32, "sint32"),
        Kind::Sfixed32 => typed(SchemaKind::Int32, "sfixed32"),
        Kind::Int64 => Schema::new(SchemaKind::Int64),
        Kind::Uint32 => typed(SchemaKind::Int64, "uint32"),
        Kind::Fixed32 => typed(SchemaKind::Int64, "fixed32"),
        Kind::Uint64 => typed(SchemaKind::Int64, "uint64"),
        Kind::Sint64 => typed(SchemaKind::Int64, "sint64"),
        Kind::Fixed64 => typed(SchemaKind::Int64, "fixed64"),
        Kind::Sfixed64 => typed(SchemaKind::Int64, "sfixed64"),
        Kind::Float => Schema::new(SchemaKind::Float32),
        Kind::Double => Schema::new(SchemaKind::Float64),
        Kind::Bool => Schema::new(SchemaKind::Boolean),
        Kind::String => Schema::new(SchemaKind::String),
        Kind::Bytes => Schema::new(SchemaKind::Bytes),
        Kind::Enum(enumeration) => {
            let mut schema = Schema::new(SchemaKind::String)
                .named(enumeration.name())
                .with_parameter(format!("{NAMESPACE}.Enum"), enumeration.name());
            for value in enumeration.values() {
                schema =
                    schema.with_parameter(format!("{NAMESPACE}.Enum.{}", value.name()), value.number().to_string());
            }
            schema
        }
        Kind::Message(message) if message.full_name() == TIMESTAMP_TYPE => Schema::timestamp(),
        Kind::Message(message) if message.full_name() == DATE_TYPE => Schema::date(),
        Kind::Message(message) if message.full_name() == TIME_TYPE => Schema::time(),
        Kind::Message(message) => struct_schema(&message, stack)?,
    })
}

/// A message as a STRUCT payload: oneofs first, then the other fields, as the schema orders them.
fn message_value(message: &DynamicMessage) -> Result<Value, String> {
    let descriptor = message.descriptor();
    let mut out = Map::new();
    for (index, oneof) in descriptor.oneofs().filter(|o| !o.is_synthetic()).enumerate() {
        let set = oneof.fields().find(|f| message.has_field(f));
        let value = match set {
            None => Value::Null,
            Some(chosen) => {
                let mut members = Map::new();
                for member in oneof.fields() {
                    let value = if member.number() == chosen.number() {
                        field_value(&member, &message.get_field(&member))?
                    } else {
                        Value::Null
                    };
                    members.insert(member.name().to_string(), value);
                }
                Value::Object(members)
            }
        };
        out.insert(format!("{}_{index}", oneof.name()), value);
    }
    for field in descriptor.fields().filter(|f| real_oneof(f).is_none()) {
        let unset_is_null = matches!(field.kind(), Kind::Message(_)) && !field.is_list() && !field.is_map()
            || field.field_descriptor_proto().proto3_optional();
        let value = if unset_is_null && !message.has_field(&field) {
            Value::Null
        } else {
            field_value(&field, &message.get_field(&field))?
        };
        out.insert(field.name().to_string(), value);
    }
    Ok(Value::Object(out))
}

/// A field's value (a list or map as a whole).
fn field_value(field: &FieldDescriptor, value: &PbValue) -> Result<Value, String> {
    match value {
        PbValue::List(items) => {
            items.iter().map(|item| single(field, item)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
        PbValue::Map(entries) => {
            let Kind::Message(entry) = field.kind() else {
                return Err(format!("map field `{}` has no entry type", field.name()));
            };
            let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let mut sorted: Vec<(&MapKey, &PbValue)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            if matches!(key_field.kind(), Kind::String) {
                let mut map = Map::new();
                for (key, value) in sorted {
                    let MapKey::String(key) = key else { continue };
                    map.insert(key.clone(), single(&value_field, value)?);
                }
                Ok(Value::Object(map))
            } else {
                sorted
                    .into_iter()
                    .map(|(key, value)| {
                        Ok(Value::Array(vec![
                            single(&key_field, &PbValue::from(key.clone()))?,
                            single(&value_field, value)?,
                        ]))
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map(Value::Array)
            }
        }
        other => single(field, other),
    }
}

/// Whether a message is one ProtobufData maps to a Connect logical type.
fn is_logical(message: &DynamicMessage) -> bool {
    matches!(message.descriptor().full_name(), TIMESTAMP_TYPE | DATE_TYPE | TIME_TYPE)
}

/// One (non-repeated) value of a field.
fn single(field: &FieldDescriptor, value: &PbValue) -> Result<Value, String> {
    Ok(match value {
        PbValue::Bool(b) => Value::Bool(*b),
        PbValue::I32(n) => Value::from(*n),
        PbValue::I64(n) => Value::from(*n),
        PbValue::U32(n) => Value::from(u64::from(*n)),
        // Java reads uint64 into a signed long.
        PbValue::U64(n) => Value::from(*n as i64),
        PbValue::F32(f) => payload::float32(*f).map_err(|e| format!("field `{}`: {e}", field.name()))?,
        PbValue::F64(f) => payload::float64(*f).map_err(|e| format!("field `{}`: {e}", field.name()))?,
        PbValue::String(s) => Value::String(s.clone()),
        PbValue::Bytes(b) => payload::base64(b),
        PbValue::EnumNumber(number) => {
            let Kind::Enum(enumeration) = field.kind() else { return Ok(Value::from(*number)) };
            Value::String(enumeration.get_value(*number).map_or_else(|| number.to_string(), |v| v.name().to_string()))
        }
        PbValue::Message(message) if is_logical(message) => {
            let number = |name: &str| {
                message
                    .get_field_by_name(name)
                    .and_then(|v| match *v {
                        PbValue::I64(n) => Some(n),
                        PbValue::I32(n) => Some(i64::from(n)),
                        _ => None,
                    })
                    .unwrap_or(0)
            };
            match message.descriptor().full_name() {
                TIMESTAMP_TYPE => Value::from(
                    number("seconds").saturating_mul(1000).saturating_add(number("nanos").div_euclid(1_000_000)),
                ),
                DATE_TYPE => {
                    let (year, month, day) = (number("year"), number("month"), number("day"));
                    let date = i32::try_from(year)
                        .ok()
                        .zip(u32::try_from(month).ok().zip(u32::try_from(day).ok()))
                        .and_then(|(y, (m, d))| chrono::NaiveDate::from_ymd_opt(y, m, d))
                        .ok_or_else(|| {
                            format!("field `{}`: {year}-{month}-{day} is not a calendar date", field.name())
                        })?;
                    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
                    Value::from(date.signed_duration_since(epoch).num_days())
                }
                _ => Value::from(
                    number("hours") * 3_600_000
                        + number("minutes") * 60_000
                        + number("seconds") * 1000
                        + number("nanos").div_euclid(1_000_000),
                ),
            }
        }
        PbValue::Message(message) => message_value(message)?,
        PbValue::List(_) | PbValue::Map(_) => return Err(format!("field `{}`: a nested list or map", field.name())),
    })
}
