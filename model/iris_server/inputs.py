"""Turns request bodies into validated rows of numbers in the model's feature order.

Everything here runs per request on the event loop, so the common case (a few well-formed rows)
is a couple of type checks per value and no allocation beyond the row lists; the detailed
diagnosis of what is wrong only runs once something is.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

# Largest finite double: an int beyond it would become inf when the batch is converted.
_MAX_FLOAT = 1.7976931348623157e308
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class BadInput(Exception):
    """The request cannot be served as sent. ``reason`` is a short, bounded metric label."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class FeatureSpec:
    """The model's inputs: ``n`` numeric features, named when the model has a signature."""

    n: int
    names: tuple[str, ...] | None
    position: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def of(n: int, names: tuple[str, ...] | None) -> FeatureSpec:
        return FeatureSpec(n, names, {name: i for i, name in enumerate(names or ())})

    def describe(self) -> str:
        if self.names:
            return ", ".join(repr(n) for n in self.names)
        return f"{self.n} unnamed features"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadInput("invalid_json", "request body is empty; expected JSON")
    try:
        # Decoded here: json.loads(bytes) would guess UTF-16/32 from the first bytes.
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput("invalid_json", "request body is not valid UTF-8") from None
    except json.JSONDecodeError as err:
        raise BadInput(
            "invalid_json", f"request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise BadInput("invalid_json", "request body is nested too deeply") from None


def _feature_label(spec: FeatureSpec, j: int) -> str:
    return repr(spec.names[j]) if spec.names else f"#{j}"


def _value_error(row: list[Any], r: int, spec: FeatureSpec) -> BadInput:
    for j, v in enumerate(row):
        t = type(v)
        if t is float and v - v != 0.0:
            return BadInput("non_finite", f"row {r}, feature {_feature_label(spec, j)}: {v} is not a finite number")
        if t is int and not -_MAX_FLOAT <= v <= _MAX_FLOAT:
            return BadInput(
                "non_finite", f"row {r}, feature {_feature_label(spec, j)}: integer is too large for a double"
            )
        if t is not float and t is not int:
            return BadInput(
                "wrong_type",
                f"row {r}, feature {_feature_label(spec, j)}: "
                f"expected a number, got {_json_type(v)} {json.dumps(v)[:40]}",
            )
    return BadInput("wrong_type", f"row {r}: invalid value")  # unreachable by construction


def _check_values(row: list[Any], r: int, spec: FeatureSpec) -> None:
    for v in row:
        t = type(v)
        if t is float:
            if v - v == 0.0:  # false for nan and +-inf
                continue
        elif t is int and -_MAX_FLOAT <= v <= _MAX_FLOAT:
            continue  # bool is a subclass of int but not `int` itself, so it falls through
        raise _value_error(row, r, spec)


def _check_count(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise BadInput("too_many_rows", f"too many rows: {n}, the maximum is {max_rows} (MAX_ROWS)")
    if n == 0:
        raise BadInput("no_rows", "input has no rows")


def rows_from_lists(rows: list[Any], spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    _check_count(len(rows), max_rows)
    n = spec.n
    for r, row in enumerate(rows):
        if type(row) is not list:
            raise BadInput("bad_format", f"row {r}: expected an array of {n} numbers, got {_json_type(row)}")
        if len(row) != n:
            raise BadInput("wrong_length", f"row {r}: expected {n} values ({spec.describe()}), got {len(row)}")
        _check_values(row, r, spec)
    return rows


def _missing(record: dict[str, Any], r: int, spec: FeatureSpec) -> BadInput:
    assert spec.names is not None
    missing = [name for name in spec.names if name not in record]
    unknown = [key for key in record if key not in spec.position]
    message = f"row {r}: missing features: {', '.join(repr(m) for m in missing)}"
    if unknown:
        message += f" (unknown: {', '.join(repr(u) for u in unknown[:10])})"
    return BadInput("missing_feature", message + f"; expected {spec.describe()}")


def rows_from_records(records: list[Any], spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    _check_count(len(records), max_rows)
    names = spec.names
    if names is None:
        raise BadInput("bad_format", f"this model's features are unnamed; send rows as arrays of {spec.n} numbers")
    rows = []
    for r, record in enumerate(records):
        if type(record) is not dict:
            raise BadInput(
                "bad_format", f"row {r}: expected an object of features like row 0, got {_json_type(record)}"
            )
        try:
            row = [record[name] for name in names]
        except KeyError:
            raise _missing(record, r, spec) from None
        _check_values(row, r, spec)
        rows.append(row)
    return rows


def rows_from_columns(columns: dict[str, Any], spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    """Column-oriented input, ``{"feature": [v0, v1, ...], ...}``; all scalars means one row."""
    if columns and all(not isinstance(v, list) for v in columns.values()):
        return rows_from_records([columns], spec, max_rows)
    if spec.names is None:
        raise BadInput("bad_format", f"this model's features are unnamed; send rows as arrays of {spec.n} numbers")
    missing = [name for name in spec.names if name not in columns]
    if missing:
        raise BadInput(
            "missing_feature",
            f"missing features: {', '.join(repr(m) for m in missing)}; expected {spec.describe()}",
        )
    values = [columns[name] for name in spec.names]
    for name, column in zip(spec.names, values, strict=True):
        if not isinstance(column, list):
            raise BadInput("bad_format", f"feature {name!r}: expected an array of values, got {_json_type(column)}")
    lengths = {len(column) for column in values}
    if len(lengths) != 1:
        raise BadInput("wrong_length", "every feature must have the same number of values")
    _check_count(lengths.pop(), max_rows)
    rows = [list(row) for row in zip(*values, strict=True)]
    for r, row in enumerate(rows):
        _check_values(row, r, spec)
    return rows


def rows_from_split(split: Any, spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    if not isinstance(split, dict):
        raise BadInput(
            "bad_format", f'dataframe_split must be an object with "columns" and "data", got {_json_type(split)}'
        )
    data = split.get("data")
    if not isinstance(data, list):
        raise BadInput("bad_format", f"dataframe_split.data must be an array of rows, got {_json_type(data)}")
    columns = split.get("columns")
    if columns is None:
        return rows_from_lists(data, spec, max_rows)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadInput("bad_format", "dataframe_split.columns must be an array of feature names")
    if spec.names is None:
        if len(columns) != spec.n:
            raise BadInput("wrong_length", f"expected {spec.n} columns, got {len(columns)}")
        return rows_from_lists(data, spec, max_rows)
    where = {name: i for i, name in enumerate(columns)}
    missing = [name for name in spec.names if name not in where]
    if missing:
        raise BadInput(
            "missing_feature",
            f"missing features: {', '.join(repr(m) for m in missing)}; expected {spec.describe()}",
        )
    _check_count(len(data), max_rows)
    order = [where[name] for name in spec.names]
    identity = order == list(range(len(columns)))
    width = len(columns)
    rows = []
    for r, raw in enumerate(data):
        if type(raw) is not list:
            raise BadInput("bad_format", f"row {r}: expected an array of {width} values, got {_json_type(raw)}")
        if len(raw) != width:
            raise BadInput("wrong_length", f"row {r}: expected {width} values (one per column), got {len(raw)}")
        row = raw if identity else [raw[i] for i in order]
        _check_values(row, r, spec)
        rows.append(row)
    return rows


def rows_from_list(items: list[Any], spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    """A list of rows: arrays of numbers, or objects keyed by feature name (decided by the first)."""
    if items and type(items[0]) is dict:
        return rows_from_records(items, spec, max_rows)
    if items and type(items[0]) is not list:
        raise BadInput(
            "bad_format",
            f"expected a list of rows (arrays of {spec.n} numbers or objects of features), "
            f"got a list of {_json_type(items[0])}",
        )
    return rows_from_lists(items, spec, max_rows)


def rows_from_mlflow(payload: dict[str, Any], spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    """MLflow's scoring protocol: exactly one of dataframe_split, dataframe_records, instances, inputs."""
    present = [key for key in MLFLOW_FORMATS if key in payload]
    extra = [key for key in payload if key not in MLFLOW_FORMATS and key != "params"]
    if len(present) != 1 or extra:
        got = ", ".join(repr(k) for k in payload) or "no fields"
        raise BadInput(
            "bad_format",
            f"body must be an object with exactly one of {', '.join(MLFLOW_FORMATS)} "
            f"(and optionally params); got {got}",
        )
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        return rows_from_split(value, spec, max_rows)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise BadInput("bad_format", f"dataframe_records must be an array of objects, got {_json_type(value)}")
        return rows_from_records(value, spec, max_rows)
    if isinstance(value, list):
        return rows_from_list(value, spec, max_rows)
    if isinstance(value, dict):
        return rows_from_columns(value, spec, max_rows)
    raise BadInput(
        "bad_format", f"{key} must be an array of rows or an object of feature columns, got {_json_type(value)}"
    )


def rows_from_predict(payload: Any, spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    """The simple format: a list of rows or feature objects, or one feature object.

    An MLflow-shaped body is accepted too, so clients can point either format at /predict.
    """
    if type(payload) is list:
        return rows_from_list(payload, spec, max_rows)
    if type(payload) is dict:
        if any(key in payload for key in MLFLOW_FORMATS):
            return rows_from_mlflow(payload, spec, max_rows)
        return rows_from_records([payload], spec, max_rows)
    raise BadInput(
        "bad_format",
        f"expected a JSON array of rows (arrays of {spec.n} numbers or objects of features), got {_json_type(payload)}",
    )


def rows_from_csv(body: bytes, spec: FeatureSpec, max_rows: int) -> list[list[Any]]:
    """text/csv as MLflow takes it: a header of feature names, then one row per line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("invalid_csv", "request body is not valid UTF-8") from None
    try:
        lines = [line for line in csv.reader(io.StringIO(text)) if line]
    except csv.Error as err:
        raise BadInput("invalid_csv", f"request body is not valid CSV: {err}") from None
    if not lines:
        raise BadInput("no_rows", "input has no rows")
    header, data = [h.strip() for h in lines[0]], lines[1:]
    records = []
    _check_count(len(data), max_rows)
    for r, line in enumerate(data):
        if len(line) != len(header):
            raise BadInput("wrong_length", f"row {r}: expected {len(header)} values (one per column), got {len(line)}")
        record: dict[str, Any] = {}
        for name, cell in zip(header, line, strict=True):
            try:
                record[name] = float(cell)
            except ValueError:
                record[name] = cell.strip()  # reported as a wrong type below if it is a feature
        records.append(record)
    if spec.names is None:
        return rows_from_lists([list(rec.values()) for rec in records], spec, max_rows)
    return rows_from_records(records, spec, max_rows)
