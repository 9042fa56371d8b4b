"""Writes golden PutTimeseriesData FlatBuffer bytes with the official SDK's encoder
(PyPI `tablestore`, `timeseries_flat_buffer_encoder.get_column_val_by_tp`).

Run once: `python3 tests/standins/tablestore/make_timeseries_golden.py`. The Rust unit test
`sinks::tablestore::flatbuf::tests::matches_the_official_sdk` compares our bytes
with `golden/timeseries_rows.bin`; keep the rows here and in that test identical.
"""
import os

import crc32c
from tablestore.flatbuffer.timeseries_flat_buffer_encoder import get_column_val_by_tp
from tablestore.metadata import TimeseriesKey, TimeseriesRow

ROWS = [
    TimeseriesRow(
        TimeseriesKey("cpu_usage", "host-1", {"region": "hz", "level": "1"}),
        {"cpu": 0.42, "io": 7, "ok": True, "note": "fine", "raw": bytearray(b"\x00\x01\xff")},
        1700000000123000,
    ),
    TimeseriesRow(TimeseriesKey("mem", "", {}), {"used": 12.5}, 1),
]

here = os.path.dirname(os.path.abspath(__file__))
data = bytes(get_column_val_by_tp("test", ROWS))
with open(os.path.join(here, "golden", "timeseries_rows.bin"), "wb") as out:
    out.write(data)
crc = crc32c.crc32c(data) & 0xFFFFFFFF
print(len(data), "bytes, crc32c", hex(crc), "signed", crc - (1 << 32) if crc >= 1 << 31 else crc)
