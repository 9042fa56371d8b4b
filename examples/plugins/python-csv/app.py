"""A sluice parser plugin in Python: CSV lines mapped onto named, typed columns.

Settings (all optional except `csv.columns`):
  csv.columns    comma-separated column names, in CSV field order (the header mapping)
  csv.types      comma-separated types per column: text (default), int64, float64, boolean
  csv.key        the column used as primary key (default: the first column)
  csv.delimiter  field delimiter (default `,`)
  csv.table      destination table (default: the connector's naming rule)

Build: componentize-py -d ../../../wit -w parser componentize --stub-wasi app -o csv_parser.wasm
"""

import csv

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log, types

TYPES = ("text", "int64", "float64", "boolean")


def _error(code, message, field=None):
    return types.PluginError(code=code, message=message, field=field)


class Mapping:
    """The configured header mapping."""

    def __init__(self, settings):
        names = [c.strip() for c in settings.get("csv.columns", "").split(",") if c.strip()]
        if not names:
            raise Err(_error("bad-setting", "csv.columns must name the CSV fields, e.g. id,name,amount", "csv.columns"))
        kinds = [t.strip() for t in settings.get("csv.types", "").split(",") if t.strip()] or ["text"] * len(names)
        if len(kinds) != len(names):
            raise Err(_error("bad-setting", f"csv.types gives {len(kinds)} types for {len(names)} columns", "csv.types"))
        for kind in kinds:
            if kind not in TYPES:
                raise Err(_error("bad-setting", f"unknown type `{kind}`; use one of {', '.join(TYPES)}", "csv.types"))
        self.columns = list(zip(names, kinds))
        self.key = settings.get("csv.key", names[0])
        if self.key not in names:
            raise Err(_error("bad-setting", f"csv.key `{self.key}` is not one of csv.columns", "csv.key"))
        self.delimiter = settings.get("csv.delimiter", ",")
        self.table = settings.get("csv.table")

    def convert(self, name, kind, text):
        if text == "":
            return types.Value_Null()
        try:
            if kind == "int64":
                return types.Value_Int64(int(text))
            if kind == "float64":
                return types.Value_Float64(float(text))
            if kind == "boolean":
                lowered = text.lower()
                if lowered not in ("true", "false"):
                    raise ValueError(text)
                return types.Value_Boolean(lowered == "true")
        except ValueError:
            raise Err(_error("bad-value", f"`{text}` is not a valid {kind}", name))
        return types.Value_Text(text)

    def parse(self, record):
        if record.value is None:
            return []
        try:
            line = bytes(record.value).decode("utf-8")
        except UnicodeDecodeError:
            raise Err(_error("invalid-utf8", "the CSV line is not UTF-8", "value"))
        fields = next(csv.reader([line], delimiter=self.delimiter), [])
        if len(fields) != len(self.columns):
            raise Err(_error("field-count", f"expected {len(self.columns)} fields ({', '.join(n for n, _ in self.columns)}), got {len(fields)}", "value"))
        key, columns = [], []
        for (name, kind), text in zip(self.columns, fields):
            column = types.Column(name=name, value=self.convert(name, kind, text))
            (key if name == self.key else columns).append(column)
        row = types.Row(table=self.table, kind=types.WriteKind.PUT, primary_key=key, columns=columns, deleted_columns=[])
        return [types.Output_Row(row)]


_mapping = None


class Parsing(exports.Parsing):
    def configure(self, settings):
        global _mapping
        _mapping = Mapping(dict(settings))
        log.log(types.Level.INFO, f"csv parser configured with {len(_mapping.columns)} columns")

    def parse(self, batch):
        results = []
        for record in batch:
            try:
                if _mapping is None:
                    raise Err(_error("not-configured", "configure was not called"))
                results.append(Ok(_mapping.parse(record)))
            except Err as error:
                results.append(error)
        return results
