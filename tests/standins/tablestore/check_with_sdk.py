#!/usr/bin/env python3
"""Checks the stand-in against the official SDK's own client (`tablestore.OTSClient`), v2 and
v4 signed: table operations, BatchWriteRow with put/update/delete rows, GetRow and GetRange,
and the time-series CreateTimeseriesTable / DescribeTimeseriesTable / PutTimeseriesData.
The client verifies every response's MD5 and signature. Exits non-zero on any mismatch."""

import atexit
import json
import os
import subprocess
import sys
import urllib.request

from tablestore import (BatchWriteRowRequest, CapacityUnit, Condition, DeleteRowItem, INF_MAX, INF_MIN,
                        OTSClient, PutRowItem, ReservedThroughput, Row, RowExistenceExpectation, TableInBatchWriteRowItem,
                        TableMeta, TableOptions, UpdateRowItem)
from tablestore.error import OTSServiceError
from tablestore.metadata import (CreateTimeseriesTableRequest, TimeseriesKey, TimeseriesRow, TimeseriesTableMeta,
                                 TimeseriesTableOptions)

server = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "server.py"), "--instance", "inst",
                           "--access-key-id", "id", "--access-key-secret", "secret"], stdout=subprocess.PIPE, text=True)
atexit.register(server.kill)
endpoint = "http://127.0.0.1:%s" % server.stdout.readline().split()[1]
ignore = Condition(RowExistenceExpectation.IGNORE)

for region in (None, "cn-hangzhou"):
    client = OTSClient(endpoint, "id", "secret", "inst", **({"region": region} if region else {}))
    name = "t_" + (region or "v2").replace("-", "_")
    client.create_table(TableMeta(name, [("pk", "STRING"), ("n", "INTEGER")]), TableOptions(-1, 1),
                        ReservedThroughput(CapacityUnit(0, 0)))
    assert name in client.list_table()
    assert client.describe_table(name).table_meta.schema_of_primary_key == [("pk", "STRING"), ("n", "INTEGER")]
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem(name, [
        PutRowItem(Row([("pk", "a"), ("n", 1)], [("x", "y"), ("b", bytearray(b"\x01"))]), ignore),
        PutRowItem(Row([("pk", "b"), ("n", 2)], [("x", "z"), ("d", 1.5)]), ignore),
        UpdateRowItem(Row([("pk", "c"), ("n", 3)], {"PUT": [("x", "u"), ("q", 1)]}), ignore),
    ]))
    assert client.batch_write_row(request).is_all_succeed()
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem(name, [
        UpdateRowItem(Row([("pk", "c"), ("n", 3)], {"DELETE_ALL": ["q"]}), ignore),
        DeleteRowItem(Row([("pk", "a"), ("n", 1)]), ignore),
    ]))
    assert client.batch_write_row(request).is_all_succeed()
    _, row, _ = client.get_row(name, [("pk", "b"), ("n", 2)], max_version=1)
    assert sorted((c[0], c[1]) for c in row.attribute_columns) == [("d", 1.5), ("x", "z")], row.attribute_columns
    _, _, rows, _ = client.get_range(name, "FORWARD", [("pk", INF_MIN), ("n", INF_MIN)], [("pk", INF_MAX), ("n", INF_MAX)],
                                     max_version=1)
    assert [r.primary_key for r in rows] == [[("pk", "b"), ("n", 2)], [("pk", "c"), ("n", 3)]], rows
    assert [(c[0], c[1]) for c in rows[1].attribute_columns] == [("x", "u")], rows[1].attribute_columns
    ts = "ts_" + (region or "v2").replace("-", "_")
    try:
        client.describe_timeseries_table(ts)
        raise AssertionError("a missing time-series table must not be described")
    except OTSServiceError as error:
        assert (error.http_status, error.code) == (500, "OTSInternalServerError"), error
    client.create_timeseries_table(CreateTimeseriesTableRequest(TimeseriesTableMeta(ts, TimeseriesTableOptions(-1))))
    assert client.describe_timeseries_table(ts).table_meta.timeseries_table_name == ts
    # The SDK's decoder crashes on a non-empty failed_rows (it appends to None), so only good rows here.
    client.put_timeseries_data(ts, [TimeseriesRow(TimeseriesKey("cpu", "h", {"b": "2", "a": "1"}), {"v": 1.5, "n": 3}, 5)])
    with urllib.request.urlopen("%s/_standin/timeseries/%s" % (endpoint, ts)) as response:
        stored = json.load(response)["rows"]
    assert stored == [{"measurement": "cpu", "data_source": "h", "tags": '["a=1","b=2"]', "time_us": 5,
                       "fields": {"n": {"type": "long", "value": 3}, "v": {"type": "double", "value": 1.5}}}], stored
print("stand-in agrees with the official SDK client")
