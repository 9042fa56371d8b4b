#!/usr/bin/env python3
"""A local MaxCompute stand-in: the service endpoint (`/api`: tunnel discovery, table
metadata, partition listing, SQL instances that add partitions) and the batch Tunnel
endpoint (upload sessions, blocks, reload, commit) on two loopback ports.

Every request's signature is recomputed with pyodps's own signer (`CloudAccount` /
`StsAccount.sign_request`) and every uploaded block is decoded with pyodps's
`TunnelRecordReader`, so clients are checked by the official SDK's code, not ours.
Committed rows are kept per partition. Faults are injectable for tests.

Usage: server.py '<json config>'; prints {"service": port, "tunnel": port} on stdout.
Config: {"project": "p", "access_id": "...", "access_key": "...", "sts_token": null,
         "tables": {"t": {"columns": [["topic", "string"], ...], "partitions": ["pt"]}}}

Control (unsigned, under /_control on the service port):
  GET  /_control/rows?table=t      -> {"<spec>": [[values...], ...]} committed rows
  GET  /_control/log               -> every request seen (method, path, query, sizes, ...)
  POST /_control/faults            -> merge {"commit_5xx": n, "commit_lost": n, "upload_5xx": n,
                                       "slow_upload_ms": ms, "expire_sessions": n,
                                       "ignore_create_partition": bool,
                                       "reject_marker": "text", "upload_down": bool}
  reject_marker refuses (400 MalformedDataStream) every block holding a row with that text in
  a field, as the tunnel refuses a block it cannot take; upload_down answers every block
  upload 503 until cleared.
"""

import base64
import datetime
import decimal
import email.utils
import io
import json
import re
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from requests.structures import CaseInsensitiveDict

from odps import options
from odps.accounts import CloudAccount, StsAccount
from odps.models import TableSchema
from odps.tunnel.io.reader import TunnelRecordReader
from odps.types import Column

options.tunnel.require_stream_footer = True

STRINGY = ("string", "varchar", "char", "json", "binary")
MAX_BLOCK_ID = 19999


class State:
    def __init__(self, config):
        self.lock = threading.Lock()
        self.project = config["project"]
        self.access_id = config["access_id"]
        self.access_key = config["access_key"]
        self.sts_token = config.get("sts_token")
        self.tables = {}
        for name, spec in config["tables"].items():
            self.tables[name] = {
                "columns": [(c[0], c[1]) for c in spec["columns"]],
                "partitions": list(spec.get("partitions", [])),
                "existing": {},  # spec string -> list of committed rows
            }
        self.sessions = {}
        self.instances = {}
        self.faults = {}
        self.log = []
        self.tunnel_port = None

    def fault(self, name):
        """Consumes one unit of a counted fault; returns whether it fired."""
        with self.lock:
            left = self.faults.get(name, 0)
            if isinstance(left, bool):
                return left
            if left > 0:
                self.faults[name] = left - 1
                return True
            return False


STATE = None


def to_json_value(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": value.hex()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return int(round(value.timestamp() * 1000))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def session_json(session, with_blocks):
    table = STATE.tables[session["table"]]
    body = {
        "UploadID": session["id"],
        "Status": session["status"],
        "Owner": "ALIYUN$standin@example.com",
        "Initiated": session["initiated"],
        "IsOverwrite": False,
        "QuotaName": "",
        "MaxFieldSize": 8388608,
        "Schema": schema_json(table),
    }
    if with_blocks:
        body["UploadedBlockList"] = [
            {"BlockID": bid, "RecordCount": len(rows), "FileName": f"block_{bid}", "Version": 1, "Date": session["initiated"]}
            for bid, rows in sorted(session["blocks"].items())
        ]
    return body


def schema_json(table):
    return {
        "IsVirtualView": False,
        "columns": [
            {"column_id": "", "comment": "", "default_value": "", "name": n, "nullable": True, "type": t}
            for n, t in table["columns"]
        ],
        "partitionKeys": [{"comment": "", "name": p, "type": "string"} for p in table["partitions"]],
    }


def decode_block(table, body):
    columns = [Column(name=n, typo=("binary" if t.split("(")[0] in STRINGY else t)) for n, t in table["columns"]]
    # Partition keys are not part of the record stream, so the reader's schema leaves them out.
    schema = TableSchema(columns=columns)
    reader = TunnelRecordReader(schema, lambda *args, **kwargs: io.BytesIO(body))
    rows = [[to_json_value(v) for v in record.values] for record in reader]
    return rows


def parse_spec(text):
    """`pt=11-17-2020 15` (several joined by `,`) -> normalized spec string."""
    parts = []
    for item in text.split(","):
        if "=" not in item:
            raise ValueError(f"bad partition spec {text!r}")
        key, value = item.split("=", 1)
        parts.append(f"{key.strip()}={value.strip().strip(chr(39)).strip(chr(34))}")
    return ",".join(parts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "maxcompute-standin"
    kind = "service"

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    # ---------- plumbing ----------
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data), True
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length else b""), False

    def send(self, status, body=b"", content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-odps-request-id", self.request_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        if self.kind == "tunnel":
            self.send(status, {"Code": code, "Message": message, "RequestId": self.request_id})
        else:
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message><![CDATA[%s]]></Message>'
                "<RequestId>%s</RequestId><HostId>standin</HostId></Error>" % (code, message, self.request_id)
            )
            self.send(status, xml, "application/xml")

    def check_signature(self):
        """Recomputes Authorization with pyodps's signer; returns an error tuple or None."""
        auth = self.headers.get("Authorization")
        if not auth:
            return 401, "Unauthorized", "The request authorization header is invalid or missing"
        date = self.headers.get("Date")
        try:
            sent = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return 403, "InvalidAuthorization", f"bad Date header {date!r}"
        if abs(time.time() - sent) > 900:
            return 403, "RequestTimeTooSkewed", "the difference between the request time and the server's time is too large"
        host = self.headers.get("Host")
        endpoint = f"http://{host}" + ("/api" if self.kind == "service" else "")

        class Req:
            pass

        req = Req()
        req.method = self.command
        req.url = f"http://{host}{self.path}"
        req.headers = CaseInsensitiveDict({k: v for k, v in self.headers.items() if k.lower() != "authorization"})
        if STATE.sts_token:
            if self.headers.get("authorization-sts-token") != STATE.sts_token:
                return 401, "InvalidAuthorization", "missing or wrong authorization-sts-token"
            account = StsAccount(STATE.access_id, STATE.access_key, STATE.sts_token)
        else:
            account = CloudAccount(STATE.access_id, STATE.access_key)
        account.sign_request(req, endpoint)
        if req.headers["Authorization"] != auth:
            return 403, "SignatureNotMatch", "The request signature we calculated does not match the signature you provided"
        return None

    def handle_any(self):
        self.request_id = uuid.uuid4().hex
        body, chunked = self.read_body()
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        entry = {
            "kind": self.kind,
            "method": self.command,
            "path": path,
            "query": query,
            "raw_query": split.query,
            "wire_bytes": len(body),
            "chunked": chunked,
            "content_encoding": self.headers.get("Content-Encoding"),
            "content_type": self.headers.get("Content-Type"),
            "tunnel_version": self.headers.get("x-odps-tunnel-version"),
        }
        if path.startswith("/_control/") and self.kind == "service":
            return self.control(path, query, body)
        with STATE.lock:
            STATE.log.append(entry)
        problem = self.check_signature()
        if problem:
            entry["status"] = problem[0]
            return self.error(*problem)
        try:
            status = self.route(path, query, body, entry)
        except (BrokenPipeError, ConnectionResetError):
            status = 499  # the client gave up (timeout) before the answer
            self.close_connection = True
        except Exception as exc:  # a stand-in bug must be visible, not a hang
            status = 500
            self.error(500, "InternalServerError", f"stand-in failure: {exc!r}")
        entry["status"] = status

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    # ---------- control ----------
    def control(self, path, query, body):
        if path == "/_control/rows":
            with STATE.lock:
                table = STATE.tables.get(query.get("table", ""))
                return self.send(200, table["existing"] if table else {})
        if path == "/_control/log":
            with STATE.lock:
                return self.send(200, STATE.log)
        if path == "/_control/faults":
            with STATE.lock:
                STATE.faults.update(json.loads(body or b"{}"))
                return self.send(200, STATE.faults)
        return self.send(404, {"error": "unknown control path"})

    # ---------- routing ----------
    def route(self, path, query, body, entry):
        m = re.fullmatch(r"/(?:api/)?projects/([^/]+)(/.*)?", path) if self.kind == "tunnel" else re.fullmatch(r"/api/projects/([^/]+)(/.*)?", path)
        if not m:
            self.error(404, "NoSuchObject", f"unknown resource {path}")
            return 404
        project, rest = m.group(1), m.group(2) or ""
        if project != STATE.project:
            self.error(404, "NoSuchProject", f"Project not found - '{project}'")
            return 404
        if self.kind == "service":
            return self.service(rest, query, body)
        return self.tunnel(rest, query, body, entry)

    def service(self, rest, query, body):
        if rest == "/tunnel" and "service" in query and self.command == "GET":
            self.send(200, f"127.0.0.1:{STATE.tunnel_port}", "text/plain")
            return 200
        m = re.fullmatch(r"/tables/([^/]+)", rest)
        if m and self.command == "GET":
            table = STATE.tables.get(m.group(1))
            if table is None:
                self.error(404, "NoSuchTable", f"Table not found - '{STATE.project}.{m.group(1)}'")
                return 404
            if "partitions" in query:
                with STATE.lock:
                    specs = sorted(table["existing"])
                parts = "".join(
                    "<Partition>%s</Partition>"
                    % "".join('<Column Name="%s" Value="%s"/>' % tuple(kv.split("=", 1)) for kv in spec.split(","))
                    for spec in specs
                )
                self.send(200, f'<?xml version="1.0" encoding="UTF-8"?>\n<Partitions>{parts}</Partitions>', "application/xml")
                return 200
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Table><Name>%s</Name><TableId>standin</TableId>'
                "<Owner>ALIYUN$standin@example.com</Owner><Schema><![CDATA[%s]]></Schema></Table>"
                % (m.group(1), json.dumps(schema_json(table)))
            )
            self.send(200, xml, "application/xml")
            return 200
        if rest == "/instances" and self.command == "POST":
            text = body.decode("utf-8", "replace")
            sql = re.search(r"<Query><!\[CDATA\[(.*?)\]\]></Query>", text, re.S)
            parsed = sql and re.fullmatch(
                r"\s*ALTER TABLE (?:(\w+)\.)?(\w+) ADD IF NOT EXISTS PARTITION \((.*)\);?\s*", sql.group(1), re.S | re.I
            )
            if not parsed or parsed.group(2) not in STATE.tables:
                self.error(400, "InvalidParameter", "the stand-in runs only ALTER TABLE ... ADD IF NOT EXISTS PARTITION on known tables")
                return 400
            items = re.findall(r"(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'", parsed.group(3))
            spec = ",".join(f"{k}={v.replace(chr(92) + chr(39), chr(39)).replace(chr(92) * 2, chr(92))}" for k, v in items)
            with STATE.lock:
                STATE.tables[parsed.group(2)]["existing"].setdefault(spec, [])
                iid = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:12]
                STATE.instances[iid] = "Success"
            host = self.headers.get("Host")
            self.send(201, b"", "application/xml", {"Location": f"http://{host}/api/projects/{STATE.project}/instances/{iid}"})
            return 201
        m = re.fullmatch(r"/instances/([^/]+)", rest)
        if m and self.command == "GET" and m.group(1) in STATE.instances:
            if "taskstatus" in query:
                xml = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Instance><Tasks><Task Type="SQL"><Name>SQLAddPartitionTask</Name>'
                    "<Status>%s</Status></Task></Tasks></Instance>" % STATE.instances[m.group(1)]
                )
            else:
                xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Instance><Status>Terminated</Status></Instance>'
            self.send(200, xml, "application/xml")
            return 200
        self.error(404, "NoSuchObject", f"unknown service resource {rest}")
        return 404

    def tunnel(self, rest, query, body, entry):
        m = re.fullmatch(r"/tables/([^/]+)", rest)
        if not m:
            self.error(404, "NoSuchObject", f"unknown tunnel resource {rest}")
            return 404
        name = m.group(1)
        table = STATE.tables.get(name)
        if table is None:
            self.error(404, "NoSuchTable", f"The specified table name does not exist: {name}")
            return 404
        if not self.headers.get("x-odps-tunnel-version"):
            self.error(400, "InvalidArgument", "x-odps-tunnel-version header is required")
            return 400
        spec = None
        if table["partitions"]:
            if "partition" not in query:
                self.error(400, "MissingPartitionSpec", "You need to specify a partition spec for a partitioned table")
                return 400
            spec = parse_spec(query["partition"])
        elif "partition" in query:
            self.error(400, "InvalidPartitionSpec", "the table is not partitioned")
            return 400

        if self.command == "POST" and "uploads" in query:
            with STATE.lock:
                exists = spec is None or spec in table["existing"]
                create = query.get("create_partition") == "true" and not STATE.faults.get("ignore_create_partition")
                if not exists and not create:
                    missing = True
                else:
                    missing = False
                    if not exists:
                        table["existing"][spec] = []
                    sid = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:16]
                    expire = STATE.faults.get("expire_sessions", 0) > 0
                    if expire:
                        STATE.faults["expire_sessions"] -= 1
                    session = {
                        "id": sid, "table": name, "spec": spec, "status": "normal", "blocks": {},
                        "initiated": email.utils.formatdate(usegmt=True), "expire": expire,
                    }
                    STATE.sessions[sid] = session
            if missing:
                self.error(404, "NoSuchPartition", f"The specified partition does not exist: {spec}")
                return 404
            self.send(201, session_json(session, False))
            return 201

        sid = query.get("uploadid")
        session = STATE.sessions.get(sid or "")
        if session is None or session["table"] != name:
            self.error(404, "NoSuchUpload", f"The specified upload id does not exist: {sid}")
            return 404
        if session["spec"] != spec:
            self.error(400, "InvalidPartitionSpec", "the partition does not match the upload session's")
            return 400

        if self.command == "PUT":
            entry["block"] = query.get("blockid")
            if session["expire"]:
                session["status"] = "expired"
            if session["status"] != "normal":
                self.error(409, "StatusConflict", f"You cannot complete the specified operation under the current upload or download status: {session['status']}")
                return 409
            try:
                block = int(query.get("blockid", ""))
            except ValueError:
                block = -1
            if not 0 <= block <= MAX_BLOCK_ID:
                self.error(400, "InvalidBlockID", f"block id must be within 0..{MAX_BLOCK_ID}")
                return 400
            delay = STATE.faults.get("slow_upload_ms", 0)
            if delay:
                time.sleep(delay / 1000)
            if STATE.fault("upload_5xx"):
                self.error(500, "InternalServerError", "injected block upload failure")
                return 500
            if STATE.faults.get("upload_down"):
                self.error(503, "ServiceUnavailable", "injected: the tunnel is down")
                return 503
            raw = body
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            if encoding == "deflate":
                try:
                    raw = zlib.decompress(body)
                except zlib.error as exc:
                    self.error(400, "MalformedDataStream", f"deflate body does not inflate: {exc}")
                    return 400
            elif encoding:
                self.error(400, "UnsupportedEncoding", f"the stand-in accepts deflate only, not {encoding}")
                return 400
            try:
                rows = decode_block(table, raw)
            except Exception as exc:
                self.error(400, "MalformedDataStream", f"pyodps TunnelRecordReader rejected the block: {exc!r}")
                return 400
            marker = STATE.faults.get("reject_marker")
            if marker and any(marker in str(v) for row in rows for v in row):
                self.error(400, "MalformedDataStream", f"injected: a row holds {marker!r}")
                return 400
            entry["raw_bytes"] = len(raw)
            entry["rows"] = len(rows)
            with STATE.lock:
                session["blocks"][block] = rows
            self.send(200, b"", "text/plain")
            return 200

        if self.command == "GET":
            self.send(200, session_json(session, True))
            return 200

        if self.command == "POST":
            if session["status"] == "closed":
                self.error(409, "StatusConflict", "You cannot complete the specified operation under the current upload or download status: closed")
                return 409
            if session["status"] != "normal":
                self.error(409, "StatusConflict", f"the upload session is {session['status']}")
                return 409
            if STATE.fault("commit_5xx"):
                self.error(500, "InternalServerError", "injected commit failure")
                return 500
            with STATE.lock:
                for bid in sorted(session["blocks"]):
                    table["existing"].setdefault(spec or "", []).extend(session["blocks"][bid])
                session["status"] = "closed"
            if STATE.fault("commit_lost"):
                self.error(502, "ServiceUnavailable", "injected: the commit landed but its answer was lost")
                return 502
            self.send(200, session_json(session, True))
            return 200

        self.error(405, "MethodNotAllowed", "Unsupported request method.")
        return 405


class ServiceHandler(Handler):
    kind = "service"


class TunnelHandler(Handler):
    kind = "tunnel"


def main():
    global STATE
    STATE = State(json.loads(sys.argv[1]))
    tunnel = ThreadingHTTPServer(("127.0.0.1", 0), TunnelHandler)
    service = ThreadingHTTPServer(("127.0.0.1", 0), ServiceHandler)
    tunnel.daemon_threads = service.daemon_threads = True
    STATE.tunnel_port = tunnel.server_address[1]
    threading.Thread(target=tunnel.serve_forever, daemon=True).start()
    print(json.dumps({"service": service.server_address[1], "tunnel": tunnel.server_address[1]}), flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
