#!/usr/bin/env python3
"""A local stand-in for Confluent Schema Registry, for sluice's converter tests.

It speaks the subset of the REST API that Confluent's serializers and sluice's converters use,
with the registry's bodies and error codes:
  POST /subjects/{subject}/versions   register ({"schema", "schemaType", "references"});
                                      the same schema gets the same id in every subject
                                      -> {"id": N}
  GET  /schemas/ids/{id}              -> {"schema": ...} (+ "schemaType" unless AVRO);
                                      404 {"error_code": 40403, "message": "Schema N not found"}
  POST /subjects/{subject}            look a schema up -> {"subject", "id", "version", "schema"};
                                      404 40401 (no subject) / 40403 (schema not under it)
  GET  /subjects/{subject}/versions/{n|latest}, GET /subjects/{subject}/versions, GET /subjects
Schemas are compared after re-serializing their JSON compactly (the real registry compares
canonical forms). With --user/--password every request needs that basic auth
(401 {"error_code": 401, "message": "Unauthorized"} otherwise).
`GET /_standin/stats` (no auth) returns request counts by method and route.

Usage: server.py [--port 0] [--user U --password P]
Prints `PORT <n>` on stdout once listening.
"""

import argparse
import base64
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class Registry:
    """Schemas by id and subjects' versions, in memory."""

    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = []  # index = id - 1: {"schema", "schemaType", "references", "key"}
        self.subjects = {}  # subject -> [id, ...] (index = version - 1)
        self.stats = {}

    @staticmethod
    def key(schema, schema_type):
        try:
            text = json.dumps(json.loads(schema), separators=(",", ":"))
        except ValueError:
            text = schema
        return (schema_type, text)

    def register(self, subject, schema, schema_type, references):
        with self.lock:
            key = self.key(schema, schema_type)
            found = next((i + 1 for i, s in enumerate(self.schemas) if s["key"] == key), None)
            if found is None:
                self.schemas.append(
                    {"schema": schema, "schemaType": schema_type, "references": references, "key": key}
                )
                found = len(self.schemas)
            versions = self.subjects.setdefault(subject, [])
            if found not in versions:
                versions.append(found)
            return found, versions.index(found) + 1

    def lookup(self, subject, schema, schema_type):
        with self.lock:
            if subject not in self.subjects:
                return None, None
            key = self.key(schema, schema_type)
            for version, schema_id in enumerate(self.subjects[subject], start=1):
                if self.schemas[schema_id - 1]["key"] == key:
                    return schema_id, version
            return 0, None

    def by_id(self, schema_id):
        with self.lock:
            if 1 <= schema_id <= len(self.schemas):
                return self.schemas[schema_id - 1]
            return None

    def count(self, route):
        with self.lock:
            self.stats[route] = self.stats.get(route, 0) + 1


def schema_body(entry, extra=None):
    body = dict(extra or {})
    body["schema"] = entry["schema"]
    if entry["schemaType"] != "AVRO":
        body["schemaType"] = entry["schemaType"]
    if entry["references"]:
        body["references"] = entry["references"]
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    registry = None
    credentials = None

    def log_message(self, format, *args):  # quiet
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def authorized(self):
        if self.credentials is None:
            return True
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return (user, password) == self.credentials
        return False

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def route(self, method):
        parsed = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/") if p]
        if parts == ["_standin", "stats"]:
            return self.reply(200, dict(self.registry.stats))
        shape = "/".join(p if not re.fullmatch(r"\d+", p) else "{n}" for p in parts)
        if len(parts) >= 2 and parts[0] == "subjects":
            shape = "/".join(["subjects", "{subject}"] + parts[2:])
        self.registry.count(f"{method} /{shape}")
        if not self.authorized():
            return self.reply(
                401, {"error_code": 401, "message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="registry"'}
            )
        body = self.read_json() if method == "POST" else None

        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            entry = self.registry.by_id(int(parts[2]))
            if entry is None:
                return self.error(404, 40403, f"Schema {parts[2]} not found")
            return self.reply(200, schema_body(entry))
        if method == "GET" and parts == ["subjects"]:
            return self.reply(200, sorted(self.registry.subjects))
        if len(parts) >= 2 and parts[0] == "subjects":
            subject = parts[1]
            if method == "POST" and len(parts) == 3 and parts[2] == "versions":
                schema, schema_type = body.get("schema"), body.get("schemaType") or "AVRO"
                if not isinstance(schema, str):
                    return self.error(422, 42201, "Invalid schema")
                schema_id, _ = self.registry.register(subject, schema, schema_type, body.get("references") or [])
                return self.reply(200, {"id": schema_id})
            if method == "POST" and len(parts) == 2:
                schema_id, version = self.registry.lookup(subject, body.get("schema"), body.get("schemaType") or "AVRO")
                if schema_id is None:
                    return self.error(404, 40401, f"Subject '{subject}' not found.")
                if not version:
                    return self.error(404, 40403, "Schema not found")
                entry = self.registry.by_id(schema_id)
                return self.reply(200, schema_body(entry, {"subject": subject, "id": schema_id, "version": version}))
            versions = self.registry.subjects.get(subject)
            if method == "GET" and len(parts) >= 3 and parts[2] == "versions":
                if versions is None:
                    return self.error(404, 40401, f"Subject '{subject}' not found.")
                if len(parts) == 3:
                    return self.reply(200, list(range(1, len(versions) + 1)))
                wanted = parts[3]
                version = len(versions) if wanted == "latest" else int(wanted) if wanted.isdigit() else 0
                if not 1 <= version <= len(versions):
                    return self.error(404, 40402, f"Version {wanted} not found.")
                schema_id = versions[version - 1]
                entry = self.registry.by_id(schema_id)
                return self.reply(200, schema_body(entry, {"subject": subject, "id": schema_id, "version": version}))
        return self.error(404, 404, f"HTTP 404 Not Found: {method} {parsed.path}")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    Handler.registry = Registry()
    Handler.credentials = (args.user, args.password or "") if args.user else None
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
