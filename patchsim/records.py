"""Frozen records as plain data and back: what commands write to disk (JSON, CSV) loads back equal.

A record is a frozen dataclass whose fields are numbers, strings, booleans, None, tuples, string-keyed
dicts or other records. :func:`to_data` gives JSON-ready data (tuples become lists);
:func:`from_data` rebuilds the record from such data, following the field types, and rejects unknown
or missing keys with a one-line :class:`~patchsim.errors.PatchsimError`."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, TypeVar

from patchsim.errors import PatchsimError

R = TypeVar("R")


def to_data(record: Any) -> Any:
    """``record`` (a dataclass instance, or data containing them) as plain JSON-ready data: dataclasses
    become dicts of their fields, tuples lists; numbers, strings, booleans and None stay as they are."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_data(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, (list, tuple)):
        return [to_data(v) for v in record]
    if isinstance(record, dict):
        return {str(k): to_data(v) for k, v in record.items()}
    return record


def from_data(cls: type[R], data: Any, what: str | None = None) -> R:
    """Rebuild a record of class ``cls`` from :func:`to_data`'s output. ``what`` names the data in
    errors (default: the class name). Unknown keys, missing required keys and values of the wrong kind
    raise PatchsimError naming the field."""
    return _build(cls, data, what or cls.__name__)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, data: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise PatchsimError(f"{path}: expected a mapping for {tp.__name__}, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise PatchsimError(f"{path}: unknown keys {unknown}; allowed: {sorted(fields)}")
        hints = _hints(tp)
        kwargs = {}
        for name, f in fields.items():
            if name in data:
                kwargs[name] = _build(hints[name], data[name], f"{path}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PatchsimError(f"{path}: missing key {name!r}")
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None:
            if type(None) in args:
                return None
            raise PatchsimError(f"{path}: must not be null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _build(a, data, path)
            except PatchsimError as e:
                errors.append(str(e))
        raise PatchsimError(errors[0] if len(errors) == 1 else f"{path}: {data!r} matches none of {args}")
    if origin is tuple:
        if not isinstance(data, (list, tuple)):
            raise PatchsimError(f"{path}: expected a list, got {type(data).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        if args and len(args) != len(data):
            raise PatchsimError(f"{path}: expected {len(args)} items, got {len(data)}")
        return tuple(_build(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data))) if args else tuple(data)
    if origin is dict:
        if not isinstance(data, dict):
            raise PatchsimError(f"{path}: expected a mapping, got {type(data).__name__}")
        _, vt = typing.get_args(tp) or (str, Any)
        return {k: _build(vt, v, f"{path}.{k}") for k, v in data.items()}
    if tp is Any:
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise PatchsimError(f"{path}: expected a number, got {data!r}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise PatchsimError(f"{path}: expected an integer, got {data!r}")
        return data
    if tp in (str, bool):
        if not isinstance(data, tp):
            raise PatchsimError(f"{path}: expected {tp.__name__}, got {data!r}")
        return data
    raise PatchsimError(f"{path}: cannot rebuild a field of type {tp!r}")


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def json_bytes(record: Any, indent: int | None = 1) -> bytes:
    """``record`` (records, numpy scalars and plain data allowed) as strict JSON: NaN and infinities,
    which JSON cannot hold, are written as null."""
    def plain(o):
        if hasattr(o, "item"):  # numpy scalars
            return o.item()
        raise TypeError(f"cannot write {type(o).__name__} as JSON")

    data = json.loads(json.dumps(to_data(record), default=plain))  # numpy scalars -> numbers first
    return json.dumps(_finite(data), indent=indent, allow_nan=False).encode()
