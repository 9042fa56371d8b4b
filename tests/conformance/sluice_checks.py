"""Checks for running schemathesis against sluice's REST API with Kafka's own OpenAPI file
(`tests/data/connect_rest-3.9.0.yaml`), loaded through SCHEMATHESIS_HOOKS.

Kafka generates that file from its Java resource classes, and two Java habits make Kafka
Connect's own answers fail it when read literally; the file is read with them spelled out:
- a Java reference type may be null, and Kafka Connect sends `null` for an absent value (a
  required key's `default_value`, a running task's `trace`), so every property is nullable;
- a Java `Object` (the values of an offsets `partition` or `offset` map: strings, numbers) is
  written `type: object` with nothing else, so such a schema accepts any value.
Kafka's file also declares one `default` response per operation, shaped like the success
body, which Kafka Connect's error bodies do not match either: bodies are held to the file's
schemas for 2xx answers, and error answers to Kafka Connect's error shape.
"""

import schemathesis
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance


def _as_java_means_it(schema):
    """Rewrites a schema in place as described above; returns it."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and set(schema) <= {"type", "description"}:
            del schema["type"]
        for key, value in list(schema.items()):
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    if isinstance(prop, dict) and "$ref" not in prop:
                        prop["nullable"] = True
            _as_java_means_it(value)
    elif isinstance(schema, list):
        for value in schema:
            _as_java_means_it(value)
    return schema


@schemathesis.hook
def before_load_schema(context, raw_schema):
    _as_java_means_it(raw_schema)


@schemathesis.check
def success_body_matches_kafkas_schema(ctx, response, case):
    """A 2xx body matches the operation's schema in Kafka's file."""
    if 200 <= response.status_code < 300:
        return response_schema_conformance(ctx, response, case)
    return None


@schemathesis.check
def content_type_is_documented(ctx, response, case):
    """A body's Content-Type is one the file documents; an answer without a body (204 No
    Content) has none, as with Kafka Connect."""
    if not response.content:
        return None
    return content_type_conformance(ctx, response, case)


@schemathesis.check
def error_body_is_kafka_connects(ctx, response, case):
    """A 4xx/5xx answer carries Kafka Connect's `{"error_code": N, "message": "..."}` with N
    equal to the status code."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception as error:  # noqa: BLE001 - any undecodable body fails the check
        raise AssertionError(f"error body is not JSON: {response.text[:200]!r} ({error})")
    if not (isinstance(body, dict) and set(body) == {"error_code", "message"}):
        raise AssertionError(f"error body is not {{error_code, message}}: {body!r}")
    if body["error_code"] != response.status_code or not isinstance(body["message"], str):
        raise AssertionError(f"error_code {body['error_code']!r} for status {response.status_code}")
    return None
