#!/usr/bin/env python3
"""A local Tablestore (Wide Column) stand-in speaking the real HTTP protocol.

Requests are decoded with the official PyPI `tablestore` SDK: its protobuf classes
(`table_store_pb2`), its PlainBuffer reader (`PlainBufferCodedInputStream`, with two gaps
patched, see `SdkRowReader`) and its signers (`SignV2`, `SignV4`), so a client is checked by
code its authors did not write. Responses carry the headers and the `Authorization`
signature the SDKs verify.

Served actions: CreateTable, DescribeTable, ListTable, DeleteTable, BatchWriteRow,
BulkImport, GetRow, GetRange, and for time-series tables CreateTimeseriesTable,
DescribeTimeseriesTable (HTTP 500 OTSInternalServerError for a missing table, as the real
service answers) and PutTimeseriesData (FlatBuffer rows read with the SDK's generated
`FlatBufferRows` reader, CRC-32C checked). Test-only endpoints (never on the real service)
live under `/_standin/`: `GET /_standin/tables/<name>` dumps a table as JSON,
`GET /_standin/timeseries/<name>` dumps a time-series table, `GET /_standin/requests`
lists the write requests seen, `POST /_standin/faults` queues faults (see `Faults`).

Usage: server.py --instance NAME --access-key-id ID --access-key-secret SECRET
                 [--security-token TOKEN] [--tls-cert PEM --tls-key PEM]
Prints `PORT <n>` on stdout once listening on 127.0.0.1.
"""

import argparse
import base64
import datetime
import hashlib
import json
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import tablestore.plainbuffer.plain_buffer_consts  # noqa: F401  (must load before the builder)
from tablestore.auth import RequestContext, SignV2, SignV4
from tablestore.credentials import Credentials
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
from tablestore.plainbuffer.plain_buffer_coded_stream import PlainBufferCodedInputStream
import tablestore.const_module as const
from tablestore.plainbuffer.plain_buffer_crc8 import PlainBufferCrc8
from tablestore.plainbuffer.plain_buffer_stream import PlainBufferInputStream
from tablestore.protobuf import table_store_pb2 as pb
from tablestore.error import OTSClientError
from tablestore.protobuf import timeseries_pb2 as tspb
from tablestore.flatbuffer.timeseries.FlatBufferRows import FlatBufferRows
from tablestore.flatbuffer.timeseries.DataType import DataType
import crc32c

MAX_SKEW = datetime.timedelta(minutes=15)
MAX_BATCH_ROWS = 200
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_PK_VALUE = 1024
MAX_ATTRIBUTE_VALUE = 2 * 1024 * 1024
OP_DELETE_ALL = 0x01

INF_MIN = ("INF_MIN",)
INF_MAX = ("INF_MAX",)
AUTO_INCREMENT = ("AUTO_INCREMENT",)


def _bulk_import_messages():
    """`BulkImport` is missing from the SDK's proto: define its two messages here, with the
    field numbers of the Java SDK's `ots_internal_api.proto`."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="sluice_standin_bulk_import.proto", package=pb.DESCRIPTOR.package, syntax="proto2",
        dependency=[pb.DESCRIPTOR.name])
    P = descriptor_pb2.FieldDescriptorProto
    ns = "." + pb.DESCRIPTOR.package + "."

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, label, ftype, type_name in fields:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if type_name:
                f.type_name = ns + type_name

    message("RowInBulkImportRequest", [
        ("type", 1, P.LABEL_REQUIRED, P.TYPE_ENUM, "OperationType"),
        ("row_change", 2, P.LABEL_REQUIRED, P.TYPE_BYTES, None)])
    message("BulkImportRequest", [
        ("table_name", 1, P.LABEL_REQUIRED, P.TYPE_STRING, None),
        ("rows", 2, P.LABEL_REPEATED, P.TYPE_MESSAGE, "RowInBulkImportRequest")])
    message("RowInBulkImportResponse", [
        ("is_ok", 1, P.LABEL_REQUIRED, P.TYPE_BOOL, None),
        ("error", 2, P.LABEL_OPTIONAL, P.TYPE_MESSAGE, "Error"),
        ("consumed", 3, P.LABEL_OPTIONAL, P.TYPE_MESSAGE, "ConsumedCapacity")])
    message("BulkImportResponse", [
        ("table_name", 1, P.LABEL_REQUIRED, P.TYPE_STRING, None),
        ("rows", 2, P.LABEL_REPEATED, P.TYPE_MESSAGE, "RowInBulkImportResponse")])
    pool = descriptor_pool.Default()
    pool.Add(fdp)
    get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName(pb.DESCRIPTOR.package + "." + n))
    return get("BulkImportRequest"), get("BulkImportResponse")


BulkImportRequest, BulkImportResponse = _bulk_import_messages()


class SdkRowReader(PlainBufferCodedInputStream):
    """The SDK's PlainBuffer reader with its two gaps filled:

    * `read_column` names an undefined `cell_type` when a cell has an operation type
      (UpdateRow DELETE / DELETE_ALL / INCREMENT) and never reads the op byte: read it, and
      fold it into the checksum after the timestamp, as the writers do;
    * `read_primary_key_value` rejects INF_MIN / INF_MAX / AUTO_INCREMENT, which a server
      receives (range bounds, auto-increment placeholders).

    Everything else (framing, checksums, value decoding) is the SDK's code. The operation of
    each attribute cell is recorded in `self.ops` (name -> op byte)."""

    def __init__(self, data):
        PlainBufferCodedInputStream.__init__(self, PlainBufferInputStream(data))
        self.ops = {}

    def read_primary_key_value(self, cell_check_sum):
        stream = self.input_stream
        start = stream.cur_pos
        stream.read_raw_little_endian32()
        column_type = ord(stream.read_raw_byte())
        special = {const.VT_INF_MIN: INF_MIN, const.VT_INF_MAX: INF_MAX, const.VT_AUTO_INCREMENT: AUTO_INCREMENT}
        if column_type in special:
            cell_check_sum = PlainBufferCrc8.crc_int8(cell_check_sum, column_type)
            stream.read_tag()
            return special[column_type], cell_check_sum
        stream.cur_pos = start
        return PlainBufferCodedInputStream.read_primary_key_value(self, cell_check_sum)

    def read_column(self, row_check_sum):
        stream = self.input_stream
        stream.read_tag()
        if stream.last_tag != const.TAG_CELL_NAME:
            raise OTSClientError("Expect const.TAG_CELL_NAME but it was " + str(ord(self.get_last_tag())))
        cell_check_sum = 0
        column_value = None
        timestamp = None
        op = None
        name_size = stream.read_raw_little_endian32()
        column_name = stream.read_utf_string(name_size)
        cell_check_sum = PlainBufferCrc8.crc_string(cell_check_sum, column_name)
        stream.read_tag()
        if self.get_last_tag() == const.TAG_CELL_VALUE:
            column_value, cell_check_sum = self.read_column_value(cell_check_sum)
        if self.get_last_tag() == const.TAG_CELL_TYPE:
            op = ord(stream.read_raw_byte())
            stream.read_tag()
        if self.get_last_tag() == const.TAG_CELL_TIMESTAMP:
            timestamp = stream.read_int64()
            cell_check_sum = PlainBufferCrc8.crc_int64(cell_check_sum, timestamp)
            stream.read_tag()
        if op is not None:
            cell_check_sum = PlainBufferCrc8.crc_int8(cell_check_sum, op)
        if self.get_last_tag() != const.TAG_CELL_CHECKSUM:
            raise OTSClientError("Expect const.TAG_CELL_CHECKSUM but it was " + str(ord(self.get_last_tag())))
        check_sum = ord(stream.read_raw_byte())
        if check_sum != cell_check_sum:
            raise OTSClientError("Checksum mismatch. expected:%d,actual:%d" % (check_sum, cell_check_sum))
        stream.read_tag()
        self.ops[column_name] = op
        row_check_sum = PlainBufferCrc8.crc_int8(row_check_sum, cell_check_sum)
        return column_name, column_value, timestamp, row_check_sum


def decode_row(data):
    """(primary key [(name, value)], attributes [(name, value, ts)], ops {name: op})."""
    reader = SdkRowReader(bytes(data))
    pk, attributes = reader.read_row()
    return pk, attributes, reader.ops


class OtsError(Exception):
    def __init__(self, status, code, message):
        Exception.__init__(self, "%s %s" % (code, message))
        self.status, self.code, self.message = status, code, message


def value_kind(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "binary"


PK_KINDS = {pb.INTEGER: "integer", pb.STRING: "string", pb.BINARY: "binary"}


class Table:
    def __init__(self, meta, options, throughput):
        self.meta = meta
        self.options = options
        self.throughput = throughput
        self.rows = {}
        self.counter = int(time.time() * 1000)

    def pk_names(self):
        return [c.name for c in self.meta.primary_key]

    def check_key(self, pk, allow_auto=True):
        schema = self.meta.primary_key
        if [n for n, _ in pk] != [c.name for c in schema]:
            raise OtsError(400, "OTSInvalidPK", "Validate PK name fail. Input: %s, Meta: %s."
                           % (",".join(n for n, _ in pk), ",".join(c.name for c in schema)))
        values = []
        for (name, value), column in zip(pk, schema):
            if value is AUTO_INCREMENT:
                if not (allow_auto and column.HasField("option") and column.option == pb.AUTO_INCREMENT):
                    raise OtsError(400, "OTSInvalidPK", "Column %s is not an auto-increment column." % name)
                self.counter += 1
                value = self.counter
            elif value_kind(value) != PK_KINDS.get(column.type):
                raise OtsError(400, "OTSInvalidPK", "Validate PK type fail. Input: %s, Meta: %s."
                               % (value_kind(value), PK_KINDS.get(column.type)))
            if value_kind(value) in ("string", "binary") and len(encode_len(value)) > MAX_PK_VALUE:
                raise OtsError(400, "OTSParameterInvalid", "The length of primary key column: '%s' exceeded the max length:1024." % name)
            values.append(value)
        return tuple(hashable(v) for v in values)




def encode_len(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def hashable(value):
    return bytes(value) if isinstance(value, bytearray) else value


def to_json(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$binary": base64.b64encode(bytes(value)).decode()}
    return value


class Faults:
    """Queued faults, consumed by matching requests. A fault is a JSON object:

    `{"action": "BatchWriteRow", "kind": K, "count": N}` or with `"duration_ms": D` instead of
    a count (active for D ms from now). Kinds: `server_busy` (503 OTSServerBusy),
    `partition_unavailable` (503 OTSPartitionUnavailable), `internal` (500
    OTSInternalServerError), `http_502` (502 from a "gateway", no request id), `clock_skew`
    (403 OTSAuthFailed), `parameter_invalid` (400 OTSParameterInvalid for the whole request), `slow` (`"delay_ms"` before answering), and `row_error` (per-row
    failure with `"code"` for rows whose primary key text contains `"match"`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, fault):
        fault = dict(fault)
        if "duration_ms" in fault:
            fault["until"] = time.time() + fault["duration_ms"] / 1000.0
        with self.lock:
            self.items.append(fault)

    def take(self, action, kinds, row_text=None):
        with self.lock:
            now = time.time()
            self.items = [f for f in self.items if f.get("until", now + 1) > now and f.get("count", 1) > 0]
            for fault in self.items:
                if fault.get("action", action) != action or fault["kind"] not in kinds:
                    continue
                if row_text is not None and fault.get("match", "") not in row_text:
                    continue
                if "count" in fault:
                    fault["count"] -= 1
                return fault
        return None


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tables = {}
        # Time-series tables: name -> {"ttl": int, "rows": {(measurement, source, tags, time): fields}}.
        self.ts_tables = {}
        self.faults = Faults()
        self.requests = []
        # (table, primary key) of rows being written, to record overlapping writes of a key.
        self.writing = {}


STATUS_OF = {
    "server_busy": (503, "OTSServerBusy", "Server is busy."),
    "partition_unavailable": (503, "OTSPartitionUnavailable", "The partition is not available."),
    "internal": (500, "OTSInternalServerError", "Internal server error."),
    "clock_skew": (403, "OTSAuthFailed", "Mismatch between system time and x-ots-date."),
    "parameter_invalid": (400, "OTSParameterInvalid", "Injected: the request is invalid."),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "TablestoreStandin/1"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("standin: " + fmt % args + "\n")

    # ---------------------------------------------------------------- plumbing
    def _send(self, status, body, action=None, headers=None, sign=True):
        self.send_response(status)
        out = {}
        if action is not None:
            out = {
                "x-ots-contentmd5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                "x-ots-requestid": uuid.uuid4().hex,
                "x-ots-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "x-ots-contenttype": "protocol buffer",
            }
            if sign and self.signing_key is not None:
                signature = self.signer.make_response_signature("/" + action, out, self.signing_key)
                out["Authorization"] = "OTS %s:%s" % (self.server.state.args.access_key_id, signature)
        out.update(headers or {})
        for k, v in out.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, action, status, code, message):
        body = pb.Error(code=code, message=message).SerializeToString()
        self._send(status, body, action=action, sign=(status != 403))

    def _json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _verify(self, action, body):
        """Checks the request like the service: headers, MD5, clock skew, instance, key and
        signature (re-computed with the SDK's signers)."""
        args = self.server.state.args
        headers = {k.lower(): v for k, v in self.headers.items()}
        for name in ("x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-instancename", "x-ots-contentmd5"):
            if name not in headers:
                raise OtsError(400, "OTSMissingHeader", "Missing header: %s." % name)
        if headers["x-ots-accesskeyid"] != args.access_key_id:
            raise OtsError(403, "OTSAuthFailed", "The AccessKeyID is disabled or does not exist.")
        if headers["x-ots-instancename"] != args.instance:
            raise OtsError(403, "OTSAuthFailed", "The instance is not found: %s." % headers["x-ots-instancename"])
        if base64.b64encode(hashlib.md5(body).digest()).decode() != headers["x-ots-contentmd5"]:
            raise OtsError(403, "OTSAuthFailed", "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
        try:
            sent = datetime.datetime.strptime(headers["x-ots-date"], "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            raise OtsError(400, "OTSParameterInvalid", "Invalid date format: %s." % headers["x-ots-date"])
        if abs(datetime.datetime.utcnow() - sent) > MAX_SKEW:
            raise OtsError(403, "OTSAuthFailed", "Mismatch between system time and x-ots-date.")
        if args.security_token is not None and headers.get("x-ots-ststoken") != args.security_token:
            raise OtsError(403, "OTSAuthFailed", "The SecurityToken is invalid.")
        credentials = Credentials(args.access_key_id, args.access_key_secret, args.security_token)
        unsigned = {k: v for k, v in headers.items()
                    if k not in ("x-ots-signature", "x-ots-signaturev4", "x-ots-signdate", "x-ots-signregion")}
        context = RequestContext(credentials)
        if "x-ots-signaturev4" in headers:
            region, date = headers.get("x-ots-signregion"), headers.get("x-ots-signdate")
            if not region or not date:
                raise OtsError(403, "OTSAuthFailed", "x-ots-signregion and x-ots-signdate are required for the v4 signature.")
            signer = SignV4("utf-8", region=region, sign_date=date)
            signer.make_request_signature_and_add_headers("/" + action, unsigned, context)
            expected, got = unsigned["x-ots-signaturev4"], headers["x-ots-signaturev4"]
        else:
            signer = SignV2("utf-8")
            signer.make_request_signature_and_add_headers("/" + action, unsigned, context)
            expected, got = unsigned["x-ots-signature"], headers.get("x-ots-signature")
        if expected != got:
            raise OtsError(403, "OTSAuthFailed", "Signature mismatch.")
        self.signer = signer
        key = signer.get_signing_key(context)
        self.signing_key = key.decode() if isinstance(key, bytes) else key

    # ---------------------------------------------------------------- HTTP verbs
    def do_GET(self):
        state = self.server.state
        if self.path.startswith("/_standin/tables/"):
            name = self.path[len("/_standin/tables/"):]
            with state.lock:
                table = state.tables.get(name)
                if table is None:
                    return self._json(404, {"error": "no table %s" % name})
                rows = [{"pk": dict(zip(table.pk_names(), [to_json(v) for v in pk])),
                         "columns": {k: to_json(v) for k, v in cols.items()}}
                        for pk, cols in sorted(table.rows.items(), key=lambda kv: [repr(v) for v in kv[0]])]
                schema = [{"name": c.name, "type": PK_KINDS.get(c.type),
                           "auto_increment": c.HasField("option") and c.option == pb.AUTO_INCREMENT} for c in table.meta.primary_key]
                return self._json(200, {"rows": rows, "primary_key": schema,
                                        "ttl": table.options.time_to_live, "max_versions": table.options.max_versions})
        if self.path.startswith("/_standin/timeseries/"):
            name = self.path[len("/_standin/timeseries/"):]
            with state.lock:
                table = state.ts_tables.get(name)
                if table is None:
                    return self._json(404, {"error": "no time-series table %s" % name})
                rows = [{"measurement": m, "data_source": d, "tags": t, "time_us": us, "fields": fields}
                        for (m, d, t, us), fields in sorted(table["rows"].items())]
                return self._json(200, {"rows": rows, "ttl": table["ttl"]})
        if self.path == "/_standin/requests":
            with state.lock:
                return self._json(200, state.requests)
        self._json(404, {"error": "unknown path"})

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/_standin/faults":
            for fault in json.loads(body or b"[]"):
                state.faults.add(fault)
            return self._json(200, {"ok": True})
        action = self.path.lstrip("/")
        self.signer, self.signing_key = SignV2("utf-8"), None
        handler = getattr(self, "_action_" + action, None)
        if handler is None:
            return self._send(404, b"unknown action", headers={"Content-Type": "text/plain"})
        slow = state.faults.take(action, ("slow",))
        self.delay = slow.get("delay_ms", 1000) / 1000.0 if slow else 0.0
        if action not in ("BatchWriteRow", "BulkImport", "PutTimeseriesData"):
            time.sleep(self.delay)
        fault = state.faults.take(action, ("server_busy", "partition_unavailable", "internal", "http_502", "clock_skew",
                                           "parameter_invalid"))
        try:
            self._verify(action, body)
            if fault and fault["kind"] == "http_502":
                return self._send(502, b"<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"})
            if fault:
                raise OtsError(*STATUS_OF[fault["kind"]])
            response = handler(body)
        except OtsError as error:
            return self._error(action, error.status, error.code, error.message)
        except Exception as error:  # a request the SDK cannot decode
            return self._error(action, 400, "OTSParameterInvalid", "Invalid request: %s" % error)
        self._send(200, response.SerializeToString(), action=action)

    # ---------------------------------------------------------------- actions
    def _table(self, name):
        table = self.server.state.tables.get(name)
        if table is None:
            raise OtsError(404, "OTSObjectNotExist", "Requested table does not exist.")
        return table

    def _action_CreateTable(self, body):
        request = pb.CreateTableRequest()
        request.ParseFromString(body)
        meta = request.table_meta
        if not 1 <= len(meta.primary_key) <= 4:
            raise OtsError(400, "OTSParameterInvalid", "The number of primary key columns must be in range: [1, 4].")
        with self.server.state.lock:
            if meta.table_name in self.server.state.tables:
                raise OtsError(409, "OTSObjectAlreadyExist", "Requested table already exists.")
            options = pb.TableOptions()
            options.CopyFrom(request.table_options)
            self.server.state.tables[meta.table_name] = Table(meta, options, request.reserved_throughput)
        return pb.CreateTableResponse()

    def _action_DescribeTable(self, body):
        request = pb.DescribeTableRequest()
        request.ParseFromString(body)
        with self.server.state.lock:
            table = self._table(request.table_name)
            response = pb.DescribeTableResponse()
            response.table_meta.CopyFrom(table.meta)
            response.reserved_throughput_details.capacity_unit.CopyFrom(table.throughput.capacity_unit)
            response.reserved_throughput_details.last_increase_time = 0
            response.table_options.CopyFrom(table.options)
        return response

    def _action_ListTable(self, body):
        pb.ListTableRequest().ParseFromString(body)
        with self.server.state.lock:
            return pb.ListTableResponse(table_names=sorted(self.server.state.tables))

    def _action_DeleteTable(self, body):
        request = pb.DeleteTableRequest()
        request.ParseFromString(body)
        with self.server.state.lock:
            self._table(request.table_name)
            del self.server.state.tables[request.table_name]
        return pb.DeleteTableResponse()

    def _apply(self, table, op, row_change, row_text):
        """Applies one row change; returns None or (code, message) for a per-row failure."""
        fault = self.server.state.faults.take(self._current_action, ("row_error",), row_text)
        if fault:
            return fault.get("code", "OTSServerBusy"), fault.get("message", "Injected row failure.")
        pk, attributes, ops = decode_row(row_change)
        try:
            key = table.check_key(pk)
        except OtsError as error:
            return error.code, error.message
        if len(attributes) > 1024:
            return "OTSOutOfColumnCountLimit", "The number of columns exceeds the limit."
        for name, value, _ in attributes:
            if value is not None and value_kind(value) in ("string", "binary") and len(encode_len(value)) > MAX_ATTRIBUTE_VALUE:
                return "OTSParameterInvalid", "The length of attribute column: '%s' exceeded the MaxLength:2097152." % name
        if op == pb.PUT:
            table.rows[key] = {name: value for name, value, _ in attributes}
        elif op == pb.UPDATE:
            current = table.rows.setdefault(key, {})
            for name, value, _ in attributes:
                if ops.get(name) == OP_DELETE_ALL:
                    current.pop(name, None)
                elif ops.get(name) is None:
                    current[name] = value
                else:
                    return "OTSParameterInvalid", "Unsupported cell operation %d." % ops[name]
        elif op == pb.DELETE:
            table.rows.pop(key, None)
        return None

    def _log(self, action, tables, overlap=False):
        self.server.state.requests.append({"action": action, "tables": tables, "overlap": overlap})

    def _action_BatchWriteRow(self, body):
        request = pb.BatchWriteRowRequest()
        request.ParseFromString(body)
        self._current_action = "BatchWriteRow"
        names = [t.table_name for t in request.tables]
        if len(set(names)) != len(names):
            raise OtsError(400, "OTSParameterInvalid", "Duplicated table name in BatchWriteRow request.")
        if sum(len(t.rows) for t in request.tables) > MAX_BATCH_ROWS:
            raise OtsError(400, "OTSParameterInvalid", "Rows count exceeds the upper limit: 200.")
        if len(body) > MAX_BATCH_BYTES:
            raise OtsError(413, "OTSRequestBodyTooLarge", "The total data size of BatchWriteRow request exceeds the limit.")
        decoded = []
        for t in request.tables:
            if not t.rows:
                raise OtsError(400, "OTSParameterInvalid", "No row specified in table: '%s'." % t.table_name)
            keys = set()
            for row in t.rows:
                pk, _, _ = decode_row(row.row_change)
                text = repr([(n, hashable(v)) for n, v in pk])
                if text in keys:
                    raise OtsError(400, "OTSParameterInvalid", "The input parameter is invalid: duplicated primary key in table '%s'." % t.table_name)
                keys.add(text)
                decoded.append(text)
        keys = []
        index = 0
        for t in request.tables:
            for _ in t.rows:
                keys.append((t.table_name, decoded[index]))
                index += 1
        overlap = self._begin_writing(keys)
        try:
            time.sleep(self.delay)
            return self._write_batch(request, decoded, overlap)
        finally:
            self._end_writing(keys)

    def _begin_writing(self, keys):
        """Marks rows as being written; True when one of them already was (two writes of one
        primary key in flight at once)."""
        state = self.server.state
        with state.lock:
            overlap = any(k in state.writing for k in keys)
            for k in keys:
                state.writing[k] = state.writing.get(k, 0) + 1
        return overlap

    def _end_writing(self, keys):
        state = self.server.state
        with state.lock:
            for k in keys:
                state.writing[k] -= 1
                if not state.writing[k]:
                    del state.writing[k]

    def _write_batch(self, request, decoded, overlap):
        response = pb.BatchWriteRowResponse()
        with self.server.state.lock:
            self._log("BatchWriteRow", [{"table": t.table_name, "rows": len(t.rows)} for t in request.tables], overlap)
            index = 0
            for t in request.tables:
                out = response.tables.add(table_name=t.table_name)
                table = self.server.state.tables.get(t.table_name)
                for row in t.rows:
                    result = out.rows.add()
                    failure = ("OTSObjectNotExist", "Requested table does not exist.") if table is None \
                        else self._apply(table, row.type, row.row_change, decoded[index])
                    index += 1
                    result.is_ok = failure is None
                    if failure:
                        result.error.code, result.error.message = failure
                    else:
                        result.consumed.capacity_unit.write = 1
        return response

    def _action_BulkImport(self, body):
        request = BulkImportRequest()
        request.ParseFromString(body)
        self._current_action = "BulkImport"
        if len(request.rows) > MAX_BATCH_ROWS:
            raise OtsError(400, "OTSParameterInvalid", "Rows count exceeds the upper limit: 200.")
        time.sleep(self.delay)
        response = BulkImportResponse(table_name=request.table_name)
        with self.server.state.lock:
            table = self._table(request.table_name)
            self._log("BulkImport", [{"table": request.table_name, "rows": len(request.rows)}])
            for row in request.rows:
                pk, _, _ = decode_row(row.row_change)
                failure = self._apply(table, row.type, row.row_change, repr([(n, hashable(v)) for n, v in pk]))
                result = response.rows.add(is_ok=failure is None)
                if failure:
                    result.error.code, result.error.message = failure
                else:
                    result.consumed.capacity_unit.write = 1
        return response

    def _serialize(self, table, key, columns):
        pk = [(n, bytearray(v) if isinstance(v, bytes) else v) for n, v in zip(table.pk_names(), key)]
        attributes = [(n, bytearray(v) if isinstance(v, bytes) else v) for n, v in sorted(columns.items())]
        return bytes(PlainBufferBuilder.serialize_for_put_row(pk, attributes))

    def _action_GetRow(self, body):
        request = pb.GetRowRequest()
        request.ParseFromString(body)
        with self.server.state.lock:
            table = self._table(request.table_name)
            pk, _, _ = decode_row(request.primary_key)
            key = table.check_key(pk, allow_auto=False)
            response = pb.GetRowResponse()
            response.consumed.capacity_unit.read = 1
            columns = table.rows.get(key)
            response.row = b"" if columns is None else self._serialize(table, key, columns)
        return response

    def _action_GetRange(self, body):
        request = pb.GetRangeRequest()
        request.ParseFromString(body)
        with self.server.state.lock:
            table = self._table(request.table_name)
            start, _, _ = decode_row(request.inclusive_start_primary_key)
            end, _, _ = decode_row(request.exclusive_end_primary_key)

            def after(key, bound, inclusive):
                for value, (_, b) in zip(key, bound):
                    if b is INF_MIN:
                        return True
                    if b is INF_MAX:
                        return False
                    if value != hashable(b):
                        return value > hashable(b)
                return inclusive

            keys = sorted(table.rows)
            if request.direction == pb.BACKWARD:
                keys.reverse()
            chosen = [k for k in keys if after(k, start, True) and not after(k, end, False)] \
                if request.direction == pb.FORWARD else keys
            if request.limit:
                chosen = chosen[:request.limit]
            response = pb.GetRangeResponse()
            response.consumed.capacity_unit.read = max(1, len(chosen))
            data = b""
            for i, key in enumerate(chosen):
                row = self._serialize(table, key, table.rows[key])
                data += row if i == 0 else row[4:]
            response.rows = data
        return response

    # ---------------------------------------------------------------- time-series tables
    def _action_CreateTimeseriesTable(self, body):
        request = tspb.CreateTimeseriesTableRequest()
        request.ParseFromString(body)
        name = request.table_meta.table_name
        with self.server.state.lock:
            if name in self.server.state.ts_tables or name in self.server.state.tables:
                raise OtsError(409, "OTSObjectAlreadyExist", "Requested table already exists.")
            ttl = request.table_meta.table_options.time_to_live if request.table_meta.HasField("table_options") else -1
            self.server.state.ts_tables[name] = {"ttl": ttl, "rows": {}}
        return tspb.CreateTimeseriesTableResponse()

    def _action_DescribeTimeseriesTable(self, body):
        request = tspb.DescribeTimeseriesTableRequest()
        request.ParseFromString(body)
        with self.server.state.lock:
            table = self.server.state.ts_tables.get(request.table_name)
            if table is None:
                # What the real service answers for a missing time-series table (emqx/emqx#18439).
                raise OtsError(500, "OTSInternalServerError", "Internal server error.")
            response = tspb.DescribeTimeseriesTableResponse()
            response.table_meta.table_name = request.table_name
            response.table_meta.table_options.time_to_live = table["ttl"]
            response.table_meta.status = "CREATED"
        return response

    def _action_PutTimeseriesData(self, body):
        request = tspb.PutTimeseriesDataRequest()
        request.ParseFromString(body)
        if len(body) > MAX_BATCH_BYTES:
            raise OtsError(413, "OTSRequestBodyTooLarge", "The total data size of PutTimeseriesData request exceeds the limit.")
        rows_data = request.rows_data
        if rows_data.type != tspb.RST_FLAT_BUFFER:
            raise OtsError(400, "OTSParameterInvalid", "Unsupported rows serialize type: %d." % rows_data.type)
        if not rows_data.HasField("flatbuffer_crc32c"):
            raise OtsError(400, "OTSParameterInvalid", "Failed to parse the ProtoBuf message.")
        crc = crc32c.crc32c(rows_data.rows_data) & 0xFFFFFFFF
        if (crc - (1 << 32) if crc >= 1 << 31 else crc) != rows_data.flatbuffer_crc32c:
            raise OtsError(400, "OTSParameterInvalid", "The crc32c of rows data mismatches.")
        rows = decode_timeseries_rows(rows_data.rows_data)
        if len(rows) > MAX_BATCH_ROWS:
            raise OtsError(400, "OTSParameterInvalid", "Rows count exceeds the upper limit: 200.")
        time.sleep(self.delay)
        response = tspb.PutTimeseriesDataResponse()
        state = self.server.state
        with state.lock:
            table = state.ts_tables.get(request.table_name)
            if table is None:
                raise OtsError(404, "OTSObjectNotExist", "Requested table does not exist.")
            self._log("PutTimeseriesData", [{"table": request.table_name, "rows": len(rows)}])
            for index, row in enumerate(rows):
                key = (row["measurement"], row["data_source"], row["tags"], row["time_us"])
                failure = check_timeseries_row(row)
                if failure is None:
                    fault = state.faults.take("PutTimeseriesData", ("row_error",), "/".join(map(str, key)))
                    if fault:
                        failure = (fault.get("code", "OTSServerBusy"), "Injected row failure.")
                if failure:
                    response.failed_rows.add(row_index=index, error_code=failure[0], error_message=failure[1])
                else:
                    table["rows"][key] = row["fields"]
        return response


TS_KINDS = {DataType.LONG: "long", DataType.BOOLEAN: "boolean", DataType.DOUBLE: "double",
            DataType.STRING: "string", DataType.BINARY: "binary"}


def decode_timeseries_rows(data):
    """Reads FlatBuffer rows with the SDK's generated reader, fields walked in order with one
    cursor per typed value array."""
    root = FlatBufferRows.GetRootAs(bytearray(data), 0)
    out = []
    for g in range(root.RowGroupsLength()):
        group = root.RowGroups(g)
        names = [group.FieldNames(k).decode() for k in range(group.FieldNamesLength())]
        types = [group.FieldTypes(k) for k in range(group.FieldTypesLength())]
        if len(names) != len(types):
            raise OtsError(400, "OTSParameterInvalid", "field_names and field_types differ in length.")
        for r in range(group.RowsLength()):
            row = group.Rows(r)
            values = row.FieldValues()
            cursor = {kind: 0 for kind in TS_KINDS}
            fields = {}
            for name, kind in zip(names, types):
                i = cursor.get(kind)
                if i is None:
                    raise OtsError(400, "OTSParameterInvalid", "Unsupported field type %d." % kind)
                cursor[kind] = i + 1
                if kind == DataType.LONG:
                    value = values.LongValues(i)
                elif kind == DataType.BOOLEAN:
                    value = bool(values.BoolValues(i))
                elif kind == DataType.DOUBLE:
                    value = values.DoubleValues(i)
                elif kind == DataType.STRING:
                    value = values.StringValues(i).decode()
                else:
                    b = values.BinaryValues(i)
                    value = base64.b64encode(bytes(b.Value(j) & 0xFF for j in range(b.ValueLength()))).decode()
                fields[name] = {"type": TS_KINDS[kind], "value": value}
            tag_pairs = [(row.TagList(t).Name().decode(), row.TagList(t).Value().decode()) for t in range(row.TagListLength())]
            tags_text = (row.Tags() or b"").decode()
            if not tag_pairs and tags_text not in ("", "[]"):
                tag_pairs = [tuple(p.strip('"').split("=", 1)) for p in tags_text.strip("[]").split(",") if p]
            out.append({
                "measurement": (group.MeasurementName() or b"").decode(),
                "data_source": (row.DataSource() or b"").decode(),
                "tags": "[" + ",".join('"%s=%s"' % kv for kv in sorted(tag_pairs)) + "]",
                "tag_pairs": tag_pairs,
                "time_us": row.Time(),
                "fields": fields,
            })
    return out


def check_timeseries_row(row):
    """The service's row rules: measurement 1..128 bytes without `#`, tag names printable
    ASCII and tag values non-empty, neither with `"` or `=`, tags sorted and unique, at least
    one field, field names lower case."""
    m = row["measurement"]
    if not m or "#" in m or len(m.encode()) > 128:
        return ("OTSParameterInvalid", "Invalid measurement name: %r." % m)
    names = [k for k, _ in row["tag_pairs"]]
    if names != sorted(names) or len(set(names)) != len(names):
        return ("OTSParameterInvalid", "Tags must be sorted by name and unique.")
    for k, v in row["tag_pairs"]:
        if not k or not v or any(c in k + v for c in '"=') or any(not 33 <= ord(c) <= 126 for c in k):
            return ("OTSParameterInvalid", "Invalid tag: %r=%r." % (k, v))
    if not row["fields"]:
        return ("OTSParameterInvalid", "The row has no field.")
    for name in row["fields"]:
        if name != name.lower():
            return ("OTSParameterInvalid", "Field name must not contain upper case letters: %s." % name)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", required=True)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument("--security-token")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
