"""Where a dump's bytes come from (a file on disk, or an upload's bytes) and the safe ways to open them.

Nothing here trusts the file: whole-document formats (JSON, torch.save) are size-checked before they are read,
torch files load only with weights_only=True (no pickle code runs), .npy files are parsed from their header with
pickled object arrays refused, and every error becomes a RoutesError that says what was expected.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from moeviz.routes.record import RoutesError

MAX_DOCUMENT_BYTES = 2 << 30  # whole-document formats on the command line (streamed formats have no limit)
MAX_UPLOAD_BYTES = 64 << 20  # anything uploaded to the app
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


@dataclass(frozen=True)
class Source:
    """A dump: `path` on disk (streamed; sidecars next to it can be found) or `data` bytes (an upload)."""
    name: str
    path: Path | None = None
    data: bytes | None = None
    max_bytes: int = MAX_DOCUMENT_BYTES  # the most a whole-document format may read

    @classmethod
    def of(cls, item, max_bytes: int | None = None) -> "Source":
        if isinstance(item, Source):
            return item
        if isinstance(item, (bytes, bytearray, memoryview)):
            return cls("upload", data=bytes(item), max_bytes=max_bytes or MAX_UPLOAD_BYTES)
        path = Path(item)
        if not path.is_file():
            raise RoutesError(f"{path}: no such file.")
        return cls(path.name, path=path, max_bytes=max_bytes or MAX_DOCUMENT_BYTES)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def head(self, n: int = 4096) -> bytes:
        with self.open() as f:
            return f.read(n)

    def document(self) -> bytes:
        """All the bytes, if the file is within max_bytes."""
        if self.size > self.max_bytes:
            raise RoutesError(f"{self.name} is {self.size / 2**20:.1f} MB; this format is read whole and the "
                              f"limit is {self.max_bytes / 2**20:.0f} MB.")
        if self.data is not None:
            return self.data
        return self.path.read_bytes()


def json_document(source: Source):
    """The file parsed as one JSON value."""
    try:
        return json.loads(source.document().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RoutesError(f"{source.name}: expected a JSON document ({error}).") from None


def torch_document(source: Source):
    """A torch.save file loaded with weights_only=True (tensors and plain containers only, on the CPU)."""
    size = source.size
    if size > source.max_bytes:
        raise RoutesError(f"{source.name} is {size / 2**20:.1f} MB; the limit is {source.max_bytes / 2**20:.0f} MB.")
    try:
        with source.open() as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - an unsafe or broken file: say so instead of a traceback
        raise RoutesError(f"{source.name}: expected a torch.save file of tensors, lists and numbers "
                          f"(loaded with weights_only=True): {type(error).__name__}: {str(error)[:200]}") from None


def npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header (f positioned at the start; left at the first data byte)."""
    try:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f)
    except (ValueError, OSError, SyntaxError) as error:
        raise RoutesError(f"not a readable .npy array: {error}") from None
    if dtype.hasobject or not np.issubdtype(dtype, np.integer):
        raise RoutesError(f"the .npy array holds {dtype}; expected integer expert ids (any integer dtype: "
                          "int16, uint8, int32, ...).")
    if fortran and len(shape) > 1:
        raise RoutesError("the .npy array is stored in Fortran order; expected C order as np.save writes it.")
    return tuple(shape), dtype


def npy_bytes(raw: bytes, where: str) -> np.ndarray:
    """A whole .npy payload (e.g. base64-decoded from a response) as an integer array, without pickle."""
    f = io.BytesIO(raw)
    shape, dtype = npy_header(f)
    data = f.read()
    count = int(np.prod(shape)) if shape else 1
    if len(data) != count * dtype.itemsize:
        raise RoutesError(f"{where}: the .npy header promises {count} values and the payload holds "
                          f"{len(data) // max(dtype.itemsize, 1)}.")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def b64(text, where: str) -> bytes:
    if not isinstance(text, str):
        raise RoutesError(f"{where}: expected a base64 string.")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RoutesError(f"{where}: not valid base64.") from None


def whole_number(value, where: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise RoutesError(f"{where}: expected a whole number >= {low}, got {str(value)[:40]!r}.")
    return value
