#!/usr/bin/env python3
"""Serializes records with Confluent's OFFICIAL serializers (PyPI `confluent-kafka`:
`confluent_kafka.schema_registry.avro.AvroSerializer`, `...json_schema.JSONSerializer` and
`...protobuf.ProtobufSerializer`),
registering their schemas in a registry (the stand-in), so sluice's converters are tested on
bytes written by code we did not write.

Input (stdin, JSON):
  {"url": "http://127.0.0.1:PORT", "user_info": "user:password" (optional),
   "records": [{"format": "avro" | "json" | "protobuf", "topic": "t", "part": "value" | "key",
                "schema": <schema text or JSON>, "value": <value>}, ...]}
For "protobuf", "schema" is a FileDescriptorProto in protobuf's JSON form (no protoc needed:
the message class is built from it with `google.protobuf`; imports of google/protobuf/*.proto
are taken from the installed package), "message" names the message to write (its full name),
"imports" (optional) lists the files it imports other than Google's, as FileDescriptorProtos in
dependency order (the serializer registers them as schema references), and "value" is the
message in protobuf's JSON form (Timestamps as RFC 3339 text, enums by name).
Values are JSON, with tagged objects for the Python types the serializers expect for logical
types: {"$decimal": "12.34"} (decimal.Decimal), {"$date": "2024-01-31"} (datetime.date),
{"$time": "12:34:56.789"} (datetime.time), {"$timestamp": "2024-01-31T12:34:56.789+00:00"}
(datetime.datetime), {"$bytes": "<base64>"} (bytes).
Output (stdout, JSON): the serialized records as hex strings, in order.
"""

import base64
import datetime
import decimal
import json
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
# Registers Google's well-known files in the default pool, to copy them as dependencies.
from google.protobuf import timestamp_pb2  # noqa: F401
from google.type import date_pb2, timeofday_pb2  # noqa: F401
from confluent_kafka.serialization import MessageField, SerializationContext


def python_value(value):
    if isinstance(value, list):
        return [python_value(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag == "$decimal":
                return decimal.Decimal(text)
            if tag == "$date":
                return datetime.date.fromisoformat(text)
            if tag == "$time":
                return datetime.time.fromisoformat(text)
            if tag == "$timestamp":
                return datetime.datetime.fromisoformat(text)
            if tag == "$bytes":
                return base64.b64decode(text)
        return {k: python_value(v) for k, v in value.items()}
    return value


def message_class(file_json, message, imports=()):
    """The generated-style class of `message` in the file described by `file_json`; `imports`
    are the files it imports other than Google's, in dependency order."""
    pool = descriptor_pool.DescriptorPool()
    added = set()
    for described in list(imports) + [file_json]:
        file_proto = json_format.ParseDict(described, descriptor_pb2.FileDescriptorProto())
        for dependency in file_proto.dependency:
            if dependency not in added:
                known = descriptor_pb2.FileDescriptorProto()
                descriptor_pool.Default().FindFileByName(dependency).CopyToProto(known)
                pool.Add(known)
                added.add(dependency)
        pool.Add(file_proto)
        added.add(file_proto.name)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message))


def main():
    job = json.load(sys.stdin)
    conf = {"url": job["url"]}
    if job.get("user_info"):
        conf["basic.auth.user.info"] = job["user_info"]
    client = SchemaRegistryClient(conf)
    out = []
    for record in job["records"]:
        schema = record["schema"]
        field = MessageField.KEY if record.get("part") == "key" else MessageField.VALUE
        if record["format"] == "protobuf":
            cls = message_class(schema, record["message"], record.get("imports", []))
            serializer = ProtobufSerializer(cls, client, {"use.deprecated.format": False})
            message = json_format.ParseDict(record["value"], cls())
            out.append(serializer(message, SerializationContext(record["topic"], field)).hex())
            continue
        if not isinstance(schema, str):
            schema = json.dumps(schema)
        if record["format"] == "avro":
            serializer = AvroSerializer(client, schema)
        elif record["format"] == "json":
            serializer = JSONSerializer(schema, client)
        else:
            raise SystemExit(f"unknown format {record['format']!r}")
        data = serializer(python_value(record["value"]), SerializationContext(record["topic"], field))
        out.append(data.hex())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
