#!/usr/bin/env python3
"""Runs pyodps's own client against the stand-in (discovery, table metadata, upload
session with create_partition, a compressed chunked block, reload, commit) to show the
stand-in speaks the protocol the official SDK expects. Exits non-zero on any mismatch."""

import json
import os
import subprocess
import sys
import urllib.request

from odps import ODPS
from odps.tunnel import TableTunnel

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = {
    "project": "connector_test",
    "access_id": "id",
    "access_key": "key",
    "tables": {
        "test_kafka": {
            "columns": [["topic", "string"], ["partition", "bigint"], ["offset", "bigint"], ["key", "string"], ["value", "string"]],
            "partitions": ["pt"],
        }
    },
}


def main():
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), json.dumps(CONFIG)], stdout=subprocess.PIPE)
    try:
        ports = json.loads(proc.stdout.readline())
        endpoint = f"http://127.0.0.1:{ports['service']}/api"
        odps = ODPS("id", "key", "connector_test", endpoint=endpoint)
        table = odps.get_table("test_kafka")
        assert [c.name for c in table.table_schema.simple_columns] == ["topic", "partition", "offset", "key", "value"]
        session = TableTunnel(odps).create_upload_session("test_kafka", partition_spec="pt=11-17-2020 15", create_partition=True, compress_option=None)
        with session.open_record_writer(0, compress=True) as writer:
            writer.write(table.new_record(["maxcompute-test-input", 0, 0, "1", "1"]))
        session.commit([0])
        rows = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ports['service']}/_control/rows?table=test_kafka"))
        assert rows == {"pt=11-17-2020 15": [["maxcompute-test-input", 0, 0, "1", "1"]]}, rows
        partitions = [str(p.partition_spec) for p in table.iterate_partitions()]
        assert partitions == ["pt='11-17-2020 15'"], partitions
        log = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ports['service']}/_control/log"))
        put = [e for e in log if e["method"] == "PUT"][0]
        assert put["chunked"] and put["content_encoding"] == "deflate", put
        bad = ODPS("id", "wrong", "connector_test", endpoint=endpoint)
        try:
            bad.get_table("test_kafka").reload()
        except Exception as exc:  # pyodps raises its SignatureNotMatch error
            assert "SignatureNotMatch" in type(exc).__name__ or "signature" in str(exc).lower(), exc
        else:
            raise AssertionError("a wrong secret was accepted")
        print("pyodps client round trip through the stand-in: ok")
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
