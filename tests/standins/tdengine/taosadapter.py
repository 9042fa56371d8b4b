#!/usr/bin/env python3
"""A local stand-in for taosAdapter (TDengine's HTTP front end), for sluice's tests.

It speaks the real REST protocol on a loopback port: `/rest/sql`, `/influxdb/v1/write`,
`/opentsdb/v1/put/json/{db}`, `/opentsdb/v1/put/telnet/{db}` and `/-/ping`, with taosAdapter's
status codes and bodies (204 on success; schemaless errors as HTTP 500 carrying the TDengine
code in the message, `[0x3002] ...`; `/rest/sql` errors as HTTP 200 with a non-zero `code`).
It parses schemaless input the way TDengine's client library does (clientSml*.c): escapes,
type suffixes, 10/13-digit telnet and JSON timestamps, precision conversion to the database
precision, type conflicts with existing columns; the whole request is checked before
anything is stored. Accepted rows are kept in memory (same child table and timestamp:
the later row wins) and can be queried with `SELECT * FROM db.stable` or `/_standin/dump`.

Faults are injected through `POST /_standin/faults` (JSON, merged into the current set) or
`--faults JSON` at startup:
  unavailable: N      next N schemaless writes answer 503 with `Retry-After: retry_after`
  bad_gateway: N      next N schemaless writes answer 502
  drop: N             next N requests get their connection closed without an answer
  down_seconds: S     for S seconds every connection is closed without an answer
  slow_ms: MS         every request waits MS first (slow_requests: N limits it to N)
  reject_marker: TXT  a schemaless line (or JSON point) containing TXT fails the request
                      with 500 `[0x3002] Invalid data format` naming that line
`GET /_standin/stats` returns request counters and the SQL seen.

Usage: taosadapter.py [--port 0] [--user root] [--password taosdata] [--version 3.3.6.0]
Prints `PORT <n>` on stdout once listening.
"""

import argparse
import base64
import datetime
import gzip
import hashlib
import json
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "u": 10**3, "us": 10**3, "ns": 1}

SUFFIX_TYPES = {
    "i8": ("TINYINT", -(2**7), 2**7 - 1),
    "i16": ("SMALLINT", -(2**15), 2**15 - 1),
    "i32": ("INT", -(2**31), 2**31 - 1),
    "i64": ("BIGINT", -(2**63), 2**63 - 1),
    "i": ("BIGINT", -(2**63), 2**63 - 1),
    "u8": ("TINYINT UNSIGNED", 0, 2**8 - 1),
    "u16": ("SMALLINT UNSIGNED", 0, 2**16 - 1),
    "u32": ("INT UNSIGNED", 0, 2**32 - 1),
    "u64": ("BIGINT UNSIGNED", 0, 2**64 - 1),
    "u": ("BIGINT UNSIGNED", 0, 2**64 - 1),
}
FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
INT_RE = re.compile(r"^[+-]?\d+$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ESCAPABLE = ',= "\\'

JSON_TYPES = {
    "bool": "BOOL", "i8": "TINYINT", "tinyint": "TINYINT", "i16": "SMALLINT", "smallint": "SMALLINT",
    "i32": "INT", "int": "INT", "i64": "BIGINT", "bigint": "BIGINT", "f32": "FLOAT", "float": "FLOAT",
    "f64": "DOUBLE", "double": "DOUBLE", "binary": "VARCHAR", "varbinary": "VARBINARY", "nchar": "NCHAR",
}


class SmlError(Exception):
    """A TDengine error: code and message (shown as `[0x3002] ...`)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def text(self):
        return "[0x%x] %s" % (self.code, self.message)


def data_error(detail):
    return SmlError(0x3002, "Invalid data format: " + detail)


# ---------------------------------------------------------------- values


def parse_bare(token, what):
    """An unquoted value: bool or number with an optional suffix -> (type, value)."""
    low = token.lower()
    if low in ("t", "true"):
        return "BOOL", True
    if low in ("f", "false"):
        return "BOOL", False
    for suffix in ("i16", "i32", "i64", "u16", "u32", "u64", "i8", "u8", "f32", "f64", "i", "u"):
        if low.endswith(suffix) and len(low) > len(suffix):
            number = low[: -len(suffix)]
            break
    else:
        suffix, number = "", low
    if suffix in SUFFIX_TYPES:
        type_name, lo, hi = SUFFIX_TYPES[suffix]
        if not INT_RE.match(number):
            raise data_error("invalid %s value `%s`" % (what, token))
        value = int(number)
        if value < lo or value > hi:
            raise SmlError(0x0224, "value out of range: %s `%s`" % (what, token))
        return type_name, value
    if not FLOAT_RE.match(number):
        raise data_error("invalid %s value `%s`" % (what, token))
    value = float(number)
    if suffix == "f32":
        if abs(value) > 3.4028234663852886e38:
            raise SmlError(0x0224, "value out of range: %s `%s`" % (what, token))
        return "FLOAT", value
    if value in (float("inf"), float("-inf")):
        raise SmlError(0x0224, "value out of range: %s `%s`" % (what, token))
    return "DOUBLE", value


def unescape(raw):
    """TDengine drops a backslash before , = space \" and \\."""
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and raw[i + 1] in ESCAPABLE:
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- protocols


def scan(line, i, stops):
    """Reads from i to an unescaped char in stops; returns (raw text, index)."""
    start = i
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            i += 2
            continue
        if c in stops:
            break
        i += 1
    return line[start:i], i


def parse_line(line, precision):
    """One line of line protocol -> point dict (timestamp in ns or None for now)."""
    if line[:1] in (",", " "):
        raise data_error("measure is empty: " + line)
    raw, i = scan(line, 1, ", ")
    measurement = line[0] + unescape(raw)
    if len(measurement.encode()) > 192:
        raise SmlError(0x3002, "Invalid data format: measure is too large than 192: " + line)
    tags = []
    if i < len(line) and line[i] == ",":
        while True:
            i += 1
            key, i = scan(line, i, "=, ")
            if not key or i >= len(line) or line[i] != "=":
                raise data_error("invalid tag `%s`: %s" % (key, line))
            value, i = scan(line, i + 1, ", ")
            if not value:
                raise data_error("tag `%s` has no value: %s" % (key, line))
            tags.append((unescape(key), ("NCHAR", unescape(value))))
            if i >= len(line) or line[i] != ",":
                break
    if i >= len(line) or line[i] != " ":
        raise data_error("cols are empty: " + line)
    while i < len(line) and line[i] == " ":
        i += 1
    fields = []
    while True:
        key, i = scan(line, i, "=, ")
        if not key or i >= len(line) or line[i] != "=":
            raise data_error("invalid field `%s`: %s" % (key, line))
        i += 1
        rest = line[i:]
        kind = None
        if rest[:1] == '"':
            kind, i = "VARCHAR", i + 1
        elif rest[:2] in ('L"', 'l"'):
            kind, i = "NCHAR", i + 2
        elif rest[:2] in ('B"', 'b"'):
            kind, i = "VARBINARY", i + 2
        elif rest[:2] in ('G"', 'g"'):
            kind, i = "GEOMETRY", i + 2
        if kind:
            start = i
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            if i >= len(line):
                raise data_error("string of field `%s` is not closed: %s" % (key, line))
            value = unescape(line[start:i])
            i += 1
            if i < len(line) and line[i] not in ", ":
                raise data_error("invalid field `%s`: %s" % (key, line))
            fields.append((unescape(key), (kind, value)))
        else:
            token, i = scan(line, i, ", ")
            fields.append((unescape(key), parse_bare(token, "field `%s`" % unescape(key))))
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    ts_text = line[i:].strip()
    if ts_text == "" or ts_text == "0":
        ts = None
    elif ts_text.isdigit():
        ts = int(ts_text) * NS[precision]
    else:
        raise SmlError(0x060B, "Timestamp data out of range: invalid timestamp `%s`: %s" % (ts_text, line))
    return {"stable": measurement, "tags": tags, "fields": fields, "ts_ns": ts, "line": line}


def telnet_ts(text, line):
    if text == "0":
        return None
    if not text.isdigit() or len(text) not in (10, 13):
        raise data_error("timestamp precision can only be seconds(10 digits) or milli seconds(13 digits): " + line)
    return int(text) * (10**9 if len(text) == 10 else 10**6)


def parse_telnet(line):
    parts = line.split()
    if len(parts) < 4:
        raise data_error("telnet line needs metric, timestamp, value and at least one tag: " + line)
    metric, ts_text, value = parts[0], parts[1], parts[2]
    ts = telnet_ts(ts_text, line)
    if value.startswith(('"', 'L"', 'l"')) and value.endswith('"') and len(value) >= 2:
        typed = ("NCHAR", value[2:-1]) if value[0] in "Ll" else ("VARCHAR", value[1:-1])
    else:
        typed = parse_bare(value, "value")
    tags = []
    for tag in parts[3:]:
        key, sep, tag_value = tag.partition("=")
        if not sep or not key or not tag_value:
            raise data_error("invalid tag `%s`: %s" % (tag, line))
        tags.append((key, ("NCHAR", tag_value)))
    return {"stable": metric, "tags": tags, "fields": [("_value", typed)], "ts_ns": ts, "line": line}


def json_typed(value, what):
    if isinstance(value, bool):
        return "BOOL", value
    if isinstance(value, (int, float)):
        return "DOUBLE", float(value)
    if isinstance(value, str):
        return "VARCHAR", value
    if isinstance(value, dict) and set(k.lower() for k in value) == {"value", "type"}:
        lower = {k.lower(): v for k, v in value.items()}
        type_name = JSON_TYPES.get(str(lower["type"]).lower())
        if not type_name:
            raise data_error("invalid type of %s: %s" % (what, json.dumps(value)))
        return type_name, lower["value"]
    raise data_error("invalid %s: %s" % (what, json.dumps(value)))


def parse_json_point(point):
    text = json.dumps(point, ensure_ascii=False)
    if not isinstance(point, dict) or len(point) != 4:
        raise data_error("invalid json format, a point needs metric, timestamp, value and tags: " + text)
    lower = {k.lower(): v for k, v in point.items()}
    if set(lower) != {"metric", "timestamp", "value", "tags"}:
        raise data_error("invalid json format, a point needs metric, timestamp, value and tags: " + text)
    metric = lower["metric"]
    if not isinstance(metric, str) or not metric:
        raise data_error("invalid metric: " + text)
    stamp = lower["timestamp"]
    if isinstance(stamp, dict):
        unit = str(stamp.get("type", "")).lower()
        if unit not in ("s", "ms", "us", "ns") or not isinstance(stamp.get("value"), int):
            raise data_error("invalid timestamp: " + text)
        ts = stamp["value"] * NS[unit] if stamp["value"] else None
    elif isinstance(stamp, int) and not isinstance(stamp, bool):
        ts = telnet_ts(str(stamp), text)
    else:
        raise data_error("invalid timestamp: " + text)
    tags = lower["tags"]
    if not isinstance(tags, dict) or not tags:
        raise data_error("tags are empty: " + text)
    typed_tags = []
    for key, value in tags.items():
        type_name, tag_value = json_typed(value, "tag `%s`" % key)
        if type_name == "VARCHAR":
            type_name = "NCHAR"
        typed_tags.append((key, (type_name, tag_value)))
    field = json_typed(lower["value"], "value")
    return {"stable": metric, "tags": typed_tags, "fields": [("_value", field)], "ts_ns": ts, "line": text}


# ---------------------------------------------------------------- storage


class Database:
    def __init__(self, name, precision):
        self.name = name
        self.precision = precision
        self.stables = {}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.users = {args.user: args.password}
        self.version = args.version
        self.databases = {}
        self.faults = {}
        self.down_until = 0.0
        self.stats = {"requests": {}, "sql": [], "gzip_bodies": 0, "lines_accepted": 0, "write_params": []}

    def count(self, name):
        with self.lock:
            self.stats["requests"][name] = self.stats["requests"].get(name, 0) + 1

    def take(self, name):
        """Consumes one unit of a counted fault."""
        with self.lock:
            left = self.faults.get(name, 0)
            if left:
                self.faults[name] = left - 1
                return True
            return False

    def insert(self, db_name, points, table_name_key):
        """Checks every point against the schema, then stores all (or nothing)."""
        with self.lock:
            db = self.databases.get(db_name)
            if db is None:
                raise SmlError(0x0388, "Database not exist")
            marker = self.faults.get("reject_marker")
            staged = {}
            for point in points:
                if marker and marker in point["line"]:
                    raise data_error("injected rejection of: " + point["line"])
                stable_name = point["stable"].replace(".", "_")
                schema = staged.get(stable_name)
                if schema is None:
                    existing = db.stables.get(stable_name)
                    schema = {
                        "columns": dict(existing["columns"]) if existing else {"_ts": "TIMESTAMP"},
                        "tags": dict(existing["tags"]) if existing else {},
                    }
                    staged[stable_name] = schema
                point["table_name"] = None
                if table_name_key:
                    for key, (_, value) in point["tags"]:
                        if key == table_name_key:
                            point["table_name"] = str(value)
                    point["tags"] = [t for t in point["tags"] if t[0] != table_name_key]
                tags = list(point["tags"]) or [("_tag_null", ("NCHAR", "NULL"))]
                seen = set()
                for key, (type_name, _) in tags:
                    if key in seen:
                        raise SmlError(0x021D, "Duplicated column names: tag `%s`: %s" % (key, point["line"]))
                    seen.add(key)
                    if key in schema["columns"]:
                        raise SmlError(0x021D, "Duplicated column names: `%s`: %s" % (key, point["line"]))
                    known = schema["tags"].setdefault(key, type_name)
                    if known != type_name:
                        raise data_error("point type and db type mismatch: tag `%s` is %s, got %s: %s" % (key, known, type_name, point["line"]))
                for key, (type_name, _) in point["fields"]:
                    if key in seen or key in schema["tags"]:
                        raise SmlError(0x021D, "Duplicated column names: `%s`: %s" % (key, point["line"]))
                    seen.add(key)
                    known = schema["columns"].setdefault(key, type_name)
                    if known != type_name:
                        raise data_error("point type and db type mismatch: column `%s` is %s, got %s: %s" % (key, known, type_name, point["line"]))
                point["stable_name"] = stable_name
                point["tags"] = tags
            now_ns = time.time_ns()
            for stable_name, schema in staged.items():
                stable = db.stables.setdefault(stable_name, {"columns": {}, "tags": {}, "tables": {}})
                stable["columns"] = schema["columns"]
                stable["tags"] = schema["tags"]
            for point in points:
                stable = db.stables[point["stable_name"]]
                tags = dict((k, v) for k, (_, v) in point["tags"])
                name = point["table_name"]
                if name is None:
                    pairs = sorted(point["tags"], key=lambda kv: kv[0].lower())
                    key = point["stable_name"] + "".join(",%s=%s" % (k, v) for k, (_, v) in pairs)
                    name = "t_" + hashlib.md5(key.encode()).hexdigest()
                table = stable["tables"].setdefault(name, {"tags": tags, "rows": {}})
                ts_ns = point["ts_ns"] if point["ts_ns"] is not None else now_ns
                ts = ts_ns // NS[db.precision]
                table["rows"][ts] = dict((k, v) for k, (_, v) in point["fields"])
                self.stats["lines_accepted"] += 1

    def dump(self):
        with self.lock:
            out = {}
            for name, db in self.databases.items():
                stables = {}
                for stable_name, stable in db.stables.items():
                    rows = []
                    for table_name, table in stable["tables"].items():
                        for ts, values in sorted(table["rows"].items()):
                            rows.append({"table": table_name, "ts": ts, "values": values, "tags": table["tags"]})
                    stables[stable_name] = {"columns": stable["columns"], "tags": stable["tags"], "rows": rows}
                out[name] = {"precision": db.precision, "stables": stables}
            return out


# ---------------------------------------------------------------- SQL


def sql_ident(text):
    """A database/table identifier: bare (lower-cased) or in backticks."""
    text = text.strip()
    if text.startswith("`") and text.endswith("`") and len(text) > 2:
        inner = text[1:-1]
        if not NAME_RE.match(inner):
            raise SmlError(0x2617, "The identifier cannot contain special characters: " + text)
        return inner.lower()
    if not NAME_RE.match(text):
        raise SmlError(0x2600, 'syntax error near "%s"' % text)
    return text.lower()


def rfc3339(ts, precision):
    unit = NS[precision]
    seconds, rest = divmod(ts * unit, 10**9)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = {"ms": 3, "us": 6, "ns": 9}[precision]
    return "%s.%0*dZ" % (base, digits, rest // (10 ** (9 - digits)))


def run_sql(state, sql, default_db):
    statement = sql.strip().rstrip(";").strip()
    upper = statement.upper()
    if re.fullmatch(r"SELECT\s+SERVER_VERSION\(\s*\)", upper):
        return {"code": 0, "column_meta": [["server_version()", "VARCHAR", len(state.version)]], "data": [[state.version]], "rows": 1}
    match = re.fullmatch(r"CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?(\S+)(.*)", statement, re.I | re.S)
    if match:
        name = sql_ident(match.group(2))
        options = match.group(3).strip()
        precision = "ms"
        for option in re.finditer(r"(\w+)\s+('[^']*'|\S+)", options):
            key, value = option.group(1).upper(), option.group(2).strip("'").lower()
            if key == "PRECISION":
                if value not in ("ms", "us", "ns"):
                    raise SmlError(0x2600, "Invalid option precision: " + value)
                precision = value
            elif key == "SCHEMALESS" and state.version.startswith("2."):
                raise SmlError(0x0216, 'syntax error near "schemaless"')
        with state.lock:
            if name in state.databases:
                if not match.group(1):
                    raise SmlError(0x0381, "Database already exists")
            else:
                state.databases[name] = Database(name, precision)
        return {"code": 0, "column_meta": [["affected_rows", "INT", 4]], "data": [[0]], "rows": 1}
    match = re.fullmatch(r"DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?(\S+)", statement, re.I)
    if match:
        name = sql_ident(match.group(2))
        with state.lock:
            if state.databases.pop(name, None) is None and not match.group(1):
                raise SmlError(0x0388, "Database not exist")
        return {"code": 0, "column_meta": [["affected_rows", "INT", 4]], "data": [[0]], "rows": 1}
    if re.fullmatch(r"SHOW\s+DATABASES", upper):
        with state.lock:
            names = ["information_schema", "performance_schema"] + sorted(state.databases)
        return {"code": 0, "column_meta": [["name", "VARCHAR", 64]], "data": [[n] for n in names], "rows": len(names)}
    match = re.fullmatch(r"SELECT\s+(\*|COUNT\(\s*\*\s*\))\s+FROM\s+(?:(\S+)\.)?(\S+)", statement, re.I)
    if match:
        db_name = sql_ident(match.group(2)) if match.group(2) else default_db
        if not db_name:
            raise SmlError(0x2616, "Database not specified")
        stable_name = match.group(3).strip("`")
        dump = state.dump()
        if db_name not in dump:
            raise SmlError(0x0388, "Database not exist")
        db = dump[db_name]
        stable = db["stables"].get(stable_name)
        if stable is None:
            raise SmlError(0x2662, "Table does not exist: " + stable_name)
        if match.group(1) != "*":
            return {"code": 0, "column_meta": [["count(*)", "BIGINT", 8]], "data": [[len(stable["rows"])]], "rows": 1}
        columns = [c for c in stable["columns"] if c != "_ts"]
        tags = list(stable["tags"])
        meta = [["_ts", "TIMESTAMP", 8]] + [[c, stable["columns"][c], 8] for c in columns] + [[t, stable["tags"][t], 64] for t in tags]
        data = [[rfc3339(r["ts"], db["precision"])] + [r["values"].get(c) for c in columns] + [r["tags"].get(t) for t in tags] for r in stable["rows"]]
        return {"code": 0, "column_meta": meta, "data": data, "rows": len(data)}
    raise SmlError(0x2600, 'syntax error near "%s"' % statement[:40])


# ---------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "taosadapter-standin"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
            with self.state.lock:
                self.state.stats["gzip_bodies"] += 1
        return data

    def credentials(self, query):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None, "invalid basic auth"
            return user, password, None
        if query is not None and "u" in query and "p" in query:
            return query["u"][0], query["p"][0], None
        return None, None, "no auth info input" if not header else "unsupported auth type"

    def authorised(self, user, password):
        return user is not None and self.state.users.get(user) == password

    def before(self):
        """Connection-level faults; returns False when the request was dropped."""
        state = self.state
        if time.time() < state.down_until or state.take("drop"):
            self.drop()
            return False
        slow = state.faults.get("slow_ms", 0)
        if slow and (state.faults.get("slow_requests") is None or state.take("slow_requests")):
            time.sleep(slow / 1000.0)
        return True

    def do_GET(self):
        if not self.before():
            return
        path = urllib.parse.urlparse(self.path).path
        if path == "/-/ping":
            return self.reply(200)
        if path == "/_standin/dump":
            return self.reply(200, self.state.dump())
        if path == "/_standin/stats":
            with self.state.lock:
                return self.reply(200, dict(self.state.stats, faults=self.state.faults))
        self.reply(404, {"code": 404, "desc": "404 page not found"})

    def do_POST(self):
        parsed = urllib.parse.urlparse(self.path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        if path == "/_standin/faults":
            faults = json.loads(self.read_body() or b"{}")
            with self.state.lock:
                if "down_seconds" in faults:
                    self.state.down_until = time.time() + float(faults.pop("down_seconds"))
                self.state.faults.update(faults)
            return self.reply(200, {"faults": self.state.faults})
        if not self.before():
            return
        body = self.read_body()
        if path == "/rest/sql" or path.startswith("/rest/sql/"):
            return self.rest_sql(body, path[len("/rest/sql/"):] if path.startswith("/rest/sql/") else None)
        if path == "/influxdb/v1/write":
            return self.influx(body, query)
        match = re.fullmatch(r"/opentsdb/v1/put/(json|telnet)/([^/]+)", path)
        if match:
            return self.opentsdb(match.group(1), urllib.parse.unquote(match.group(2)), body, query)
        self.reply(404, {"code": 404, "desc": "404 page not found"})

    def rest_sql(self, body, db):
        self.state.count("sql")
        user, password, problem = self.credentials(None)
        if problem:
            return self.reply(401, {"code": 0x1105 if "no auth" in problem else 0x1124, "desc": problem})
        if not self.authorised(user, password):
            return self.reply(401, {"code": 0x0357, "desc": "Authentication failure"})
        sql = body.decode("utf-8", "replace")
        if not sql.strip():
            return self.reply(400, {"code": 0x1107, "desc": "no sql input"})
        with self.state.lock:
            self.state.stats["sql"].append(sql)
        try:
            self.reply(200, run_sql(self.state, sql, db))
        except SmlError as error:
            self.reply(200, {"code": error.code & 0xFFFF, "desc": error.message})

    def schemaless_faults(self, shape):
        if self.state.take("unavailable"):
            retry_after = str(self.state.faults.get("retry_after", 1))
            self.reply(503, shape(503, "service unavailable", "memory exceeded"), [("Retry-After", retry_after)])
            return True
        if self.state.take("bad_gateway"):
            self.reply(502, shape(502, "bad gateway", "[0xb] Unable to establish connection"))
            return True
        return False

    def influx(self, body, query):
        self.state.count("influxdb")
        shape = lambda status, code, message: {"code": code, "message": message}
        user, password, problem = self.credentials(query)
        if problem or not self.authorised(user, password):
            return self.reply(401, {"code": "forbidden", "message": problem or "Authentication failure"})
        db = (query.get("db") or [""])[0]
        if not db:
            return self.reply(400, {"code": "illegal param", "message": "db required", "op": "get db", "err": "db required"})
        precision = (query.get("precision") or [""])[0]
        if precision not in ("", "h", "m", "s", "ms", "u", "\u03bc", "ns"):
            precision = ""  # NOT_CONFIGURED: line protocol reads it as nanoseconds
        precision = {"": "ns", "\u03bc": "u"}.get(precision, precision)
        with self.state.lock:
            self.state.stats["write_params"].append({k: v[0] for k, v in query.items() if k not in ("u", "p")})
        if self.schemaless_faults(shape):
            return
        text = body.decode("utf-8", "replace").strip()
        try:
            points = [parse_line(line, precision) for line in text.split("\n") if not line.startswith("#")] if text else []
            self.state.insert(db, points, (query.get("table_name_key") or [None])[0])
        except SmlError as error:
            return self.reply(500, {"code": "internal error", "message": error.text()})
        self.reply(204)

    def opentsdb(self, kind, db, body, query):
        self.state.count("opentsdb_" + kind)
        shape = lambda status, code, message: {"code": status, "message": message}
        user, password, problem = self.credentials(None)
        if problem or not self.authorised(user, password):
            return self.reply(401, {"code": 401, "message": problem or "Authentication failure"})
        with self.state.lock:
            self.state.stats["write_params"].append(dict({k: v[0] for k, v in query.items()}, db=db, protocol=kind))
        if self.schemaless_faults(shape):
            return
        text = body.decode("utf-8", "replace")
        try:
            if kind == "json":
                if not text.strip():
                    return self.reply(204)
                try:
                    document = json.loads(text)
                except ValueError as error:
                    raise data_error("invalid json: %s" % error)
                points = [parse_json_point(p) for p in (document if isinstance(document, list) else [document])]
            else:
                points = []
                for line in text.split("\n"):
                    line = line.strip()
                    if line.startswith("put "):
                        line = line[4:].strip()
                    if line:
                        points.append(parse_telnet(line))
            self.state.insert(db, points, (query.get("table_name_key") or [None])[0])
        except SmlError as error:
            return self.reply(500, {"code": 500, "message": error.text()})
        self.reply(204)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that gave up (timeout) or a dropped connection is not an error here."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="taosdata")
    parser.add_argument("--version", default="3.3.6.0")
    parser.add_argument("--faults", default="{}", help="initial faults as JSON")
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    server.state.faults.update(json.loads(args.faults))
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
