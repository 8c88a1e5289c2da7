"""The sandbox's wire format: a JSON header and numpy arrays in .npy form, framed on a socket; nothing is pickled.

Reading a message can run no code: JSON (NaN and infinities refused) and .npy headers parsed by numpy's literal
reader, whose shape and dtype are checked against the bytes that came before any array is made. Django-free: the
child speaks it too.
"""

from __future__ import annotations

import io
import json
import math
import socket
import struct
import time
from typing import Any

import numpy as np
import pandas as pd

PREFIX = struct.Struct(">IQ")  # header length, total array bytes
MAX_HEADER = 32 * 1024 * 1024
# Kinds an array may have on the wire: booleans, integers, floats, and bytes of UTF-8 text. No objects.
KINDS = frozenset("biuf")


class WireError(Exception):
    """A message that is not in the format: cut short, too large, or holding something other than data."""


class Closed(WireError):
    """The other side closed the connection before a message began."""


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} is not allowed")


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def pack(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list[bytes]:
    blobs = [(name, _npy(arr)) for name, arr in (arrays or {}).items()]
    head = json.dumps({**header, "arrays": [[name, len(b)] for name, b in blobs]}, allow_nan=False,
                      separators=(",", ":")).encode()
    return [PREFIX.pack(len(head), sum(len(b) for _, b in blobs)), head, *(b for _, b in blobs)]


def send(sock: socket.socket, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
         *, deadline: float | None = None) -> None:
    parts = pack(header, arrays)
    if deadline is not None:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
    try:
        for part in parts:
            sock.sendall(part)
    except TimeoutError as exc:
        raise WireError("the other side stopped reading") from exc


def _read(sock: socket.socket, n: int, deadline: float | None, *, first: bool = False) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            if first and not buf:
                raise Closed("closed")
            raise WireError("the message was cut short")
        buf += chunk
    return bytes(buf)


def load_npy(raw: bytes) -> np.ndarray:
    """An array from .npy bytes, refused unless its header's shape and dtype account for exactly those bytes."""
    fh = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise WireError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError) as exc:
        raise WireError(f"a malformed array: {exc}") from exc
    if dtype.kind not in KINDS or dtype.hasobject or dtype.fields is not None or len(shape) > 2:
        raise WireError(f"an array of dtype {dtype} and {len(shape)} dimensions is not data this format carries")
    body = raw[fh.tell():]
    if math.prod(shape) * dtype.itemsize != len(body):
        raise WireError("an array's header does not match its size")
    arr = np.frombuffer(body, dtype=dtype).copy()  # writable, as the code that receives it may expect
    return arr.reshape(shape, order="F" if fortran else "C")


def recv(sock: socket.socket, *, limit: int, deadline: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One message: (header, arrays). Raises Closed at a clean end, TimeoutError past the deadline."""
    head_len, body_len = PREFIX.unpack(_read(sock, PREFIX.size, deadline, first=True))
    if head_len > MAX_HEADER or body_len > limit:
        raise WireError(f"a message of {head_len + body_len} bytes is over the limit of {limit}")
    try:
        header = json.loads(_read(sock, head_len, deadline), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"the header is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    meta = header.pop("arrays", [])
    if not isinstance(meta, list) or not all(
            isinstance(m, list) and len(m) == 2 and isinstance(m[0], str) and type(m[1]) is int and m[1] >= 0
            for m in meta) or sum(m[1] for m in meta) != body_len or len({m[0] for m in meta}) != len(meta):
        raise WireError("the array list does not match the message")
    arrays = {name: load_npy(_read(sock, size, deadline)) for name, size in meta}
    return header, arrays


# -- data frames: one array per column, text as UTF-8 bytes with offsets and a mask of missing values -----------

def frame_to_wire(frame: pd.DataFrame, prefix: str) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    spec: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, (name, col) in enumerate(frame.items()):
        key = f"{prefix}{i}"
        label = name if isinstance(name, (int, str)) and not isinstance(name, bool) else str(name)
        if pd.api.types.is_bool_dtype(col.dtype) and not col.isna().any():
            kind, arrays[key] = "bool", col.to_numpy(dtype=bool)
        elif pd.api.types.is_integer_dtype(col.dtype) and not col.isna().any():
            kind, arrays[key] = "int", col.to_numpy(dtype=np.int64)
        elif pd.api.types.is_float_dtype(col.dtype):
            kind, arrays[key] = "float", col.to_numpy(dtype=np.float64)
        else:
            kind = "text"
            missing = col.isna().to_numpy(dtype=bool)
            encoded = [b"" if m else str(v).encode("utf-8", "surrogatepass")
                       for v, m in zip(col.tolist(), missing, strict=True)]
            arrays[key] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
            arrays[f"{key}o"] = np.concatenate([[0], np.cumsum([len(b) for b in encoded], dtype=np.int64)])
            arrays[f"{key}m"] = missing
        spec.append({"name": label, "kind": kind})
    return spec, arrays


def frame_from_wire(spec: Any, arrays: dict[str, np.ndarray], prefix: str, *, rows: int | None = None) -> pd.DataFrame:
    """The frame `frame_to_wire` sent, checked column by column; raises WireError on anything else."""
    if not isinstance(spec, list) or len(spec) > 100_000:
        raise WireError("a frame's columns are not a list")
    columns: dict[Any, Any] = {}
    for i, col in enumerate(spec):
        name = col.get("name") if isinstance(col, dict) else None
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise WireError("a frame column has no name")
        key, kind = f"{prefix}{i}", col.get("kind")
        arr = arrays.get(key)
        if arr is None or arr.ndim != 1:
            raise WireError(f"column {col['name']!r} is missing or not one-dimensional")
        if kind == "text":
            offsets, mask = arrays.get(f"{key}o"), arrays.get(f"{key}m")
            if (arr.dtype != np.uint8 or offsets is None or mask is None or offsets.dtype.kind != "i"
                    or mask.dtype != bool or offsets.ndim != 1 or len(offsets) != len(mask) + 1 or offsets[0] != 0
                    or offsets[-1] != len(arr) or bool((np.diff(offsets) < 0).any())):
                raise WireError(f"text column {col['name']!r} is malformed")
            blob = arr.tobytes()
            try:
                values = [np.nan if m else blob[a:b].decode("utf-8", "surrogatepass")
                          for a, b, m in zip(offsets[:-1].tolist(), offsets[1:].tolist(), mask.tolist(), strict=True)]
            except UnicodeDecodeError as exc:
                raise WireError(f"text column {col['name']!r} is not UTF-8") from exc
            columns[col["name"]] = pd.Series(values, dtype=object)
        elif kind in ("bool", "int", "float") and arr.dtype.kind == {"bool": "b", "int": "i", "float": "f"}[kind]:
            columns[col["name"]] = pd.Series(arr)
        else:
            raise WireError(f"column {col['name']!r} has an unknown kind")
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1 or (rows is not None and lengths and lengths != {rows}):
        raise WireError("a frame's columns differ in length")
    frame = pd.DataFrame(columns)
    if len(frame.columns) != len(spec):
        raise WireError("a frame has duplicate column names")
    return frame
