"""Frozen records as plain data and back: what commands write to disk (JSON, CSV) loads back equal.

A record is a frozen dataclass whose fields are numbers, strings, booleans, None, tuples, string-keyed
dicts, 1-D tensors or other records. :func:`to_data` gives JSON-ready data (tuples and tensors become
lists); :func:`from_data` rebuilds the record from such data, following the field types, and rejects
unknown or missing keys with a one-line :class:`~patchsim.errors.PatchsimError`. A tensor field is
float32 unless its field metadata says ``{"dtype": "int64"}``.

Files on disk are versioned: a :class:`Schema` names the file, its current version and an explicit
migration table (version ``v`` -> a function from the data at ``v`` to the data at ``v + 1``).
:func:`versioned_bytes` writes ``schema_version`` as the first key; :func:`from_versioned` migrates
older data step by step, refuses newer data, and then builds the record. Data without
``schema_version`` is version 1 (everything written before versions)."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from patchsim.errors import PatchsimError

R = TypeVar("R")


def to_data(record: Any) -> Any:
    """``record`` (a dataclass instance, or data containing them) as plain JSON-ready data: dataclasses
    become dicts of their fields, tuples lists; numbers, strings, booleans and None stay as they are."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_data(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, torch.Tensor):
        return record.detach().cpu().tolist()
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
            if name in data and hints[name] is torch.Tensor:
                kwargs[name] = _tensor(data[name], f.metadata.get("dtype", "float32"), f"{path}.{name}")
            elif name in data:
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
    if tp is tuple:  # a bare tuple: items as they are
        if not isinstance(data, (list, tuple)):
            raise PatchsimError(f"{path}: expected a list, got {type(data).__name__}")
        return tuple(data)
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


def _tensor(data: Any, dtype: str, path: str) -> torch.Tensor:
    """A 1-D tensor of ``dtype`` (float32 | int64) from a list of numbers."""
    if not isinstance(data, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in data):
        raise PatchsimError(f"{path}: expected a list of numbers, got {str(data)[:60]}")
    if dtype == "int64" and any(not isinstance(v, int) for v in data):
        raise PatchsimError(f"{path}: expected a list of integers")
    return torch.tensor(data, dtype=torch.int64 if dtype == "int64" else torch.float32).reshape(len(data))


@dataclass(frozen=True)
class Schema:
    """A versioned file format: ``name`` as users know it (``attack.json``), the ``version`` written
    today, and ``migrations``: for every older version ``v`` from 1, a function from the data (a dict)
    at ``v`` to the data at ``v + 1``. A table with a gap is an error at import, not at load."""

    name: str
    version: int
    migrations: Mapping[int, Callable[[dict], dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if sorted(self.migrations) != list(range(1, self.version)):
            raise ValueError(f"{self.name}: migrations {sorted(self.migrations)} must cover versions 1..{self.version - 1}")

    def upgrade(self, data: Any, what: str) -> dict:
        """``data`` migrated to :attr:`version` (``schema_version`` removed); one-line errors name ``what``."""
        if not isinstance(data, dict):
            raise PatchsimError(f"{what}: {self.name} must be a JSON object, got {type(data).__name__}")
        v = data.get("schema_version", 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise PatchsimError(f"{what}: schema_version {v!r} is invalid; allowed: 1..{self.version}")
        if v > self.version:
            raise PatchsimError(f"{what}: {self.name} schema_version {v} was written by a newer patchsim "
                                f"(this one reads 1..{self.version}); upgrade patchsim")
        data = {k: val for k, val in data.items() if k != "schema_version"}
        for step in range(v, self.version):
            data = self.migrations[step](data)
        return data


def versioned_bytes(record: Any, schema: Schema, indent: int | None = 1) -> bytes:
    """``record`` as strict JSON (:func:`json_bytes`) with ``schema_version`` first."""
    body = json.loads(json_bytes(record, None))
    if not isinstance(body, dict):
        raise PatchsimError(f"{schema.name}: a versioned record must be a JSON object")
    return json.dumps({"schema_version": schema.version, **body}, indent=indent, allow_nan=False).encode()


def from_versioned(cls: type[R], data: Any, schema: Schema, what: str | None = None) -> R:
    """:func:`from_data` of ``data`` after :meth:`Schema.upgrade`."""
    what = what or schema.name
    return from_data(cls, schema.upgrade(data, what), what)


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
