"""Read and write `.qmodel` files (docs/FORMAT.md): preamble, JSON header, aligned blobs.

`read()` checks the file's structure (preamble, header schema, every blob inside the file)
and returns zero-copy read-only views of the constants; the graph itself is checked by
qengine.graph. `write()` is atomic: a temporary file in the target folder, then rename.
"""
import json
import math
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

from qengine.errors import ModelFormatError

MAGIC = b"QMODEL\x00\x01"
VERSION = (1, 2)   # 1.1: int16 activations, int64 constants; 1.2: storage "kb4" (optional)
ALIGN = 64
PREAMBLE = struct.Struct("<8sHHIQQQ24x")  # magic, major, minor, flags, hlen, data_off, size
assert PREAMBLE.size == 64
DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
          "int32": np.int32, "int64": np.int64, "float32": np.float32}
MAX_HEADER = 64 << 20
MAX_RANK = 8


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class QModelFile:
    """A parsed file: the JSON header, the constants as read-only arrays (views of the
    mmap), and the mmap itself (kept alive by the arrays)."""
    header: dict
    constants: dict
    version: tuple
    size: int
    mm: object = None


def write(path, header, constants):
    """Write `header` (the JSON fields of docs/FORMAT.md except the constants' offsets) and
    `constants` ({name: ndarray}) to `path`, atomically."""
    header = dict(header)
    table, offset = {}, 0
    arrays = {}
    for name, arr in constants.items():
        arr = np.ascontiguousarray(arr)
        dtype = next((k for k, v in DTYPES.items() if arr.dtype == v), None)
        if dtype is None:
            raise ValueError(f"constant {name!r}: dtype {arr.dtype} cannot be stored")
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        table[name] = {"dtype": dtype, "shape": list(arr.shape), "offset": offset,
                       "nbytes": arr.nbytes}
        arrays[name] = arr
        offset = _align(offset + arr.nbytes)
    header["constants"] = table
    blob = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    data_offset = _align(PREAMBLE.size + len(blob))
    size = data_offset + offset
    pre = PREAMBLE.pack(MAGIC, VERSION[0], VERSION[1], 0, len(blob), data_offset, size)

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".qmodel-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pre + blob)
            f.write(b"\0" * (data_offset - f.tell()))
            for name, arr in arrays.items():
                f.write(b"\0" * (data_offset + table[name]["offset"] - f.tell()))
                f.write(arr.tobytes())
            f.write(b"\0" * (size - f.tell()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(msg):
    raise ModelFormatError(msg)


def _check_shape(where, shape):
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape):
        _fail(f"{where}: shape must be a list of at most {MAX_RANK} non-negative "
              f"integers, got {shape!r}")
    return tuple(shape)


def _check_int(where, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        _fail(f"{where} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def read(path):
    """Map `path` and check its structure; ModelFormatError on any problem."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < PREAMBLE.size:
                _fail(f"{path}: {size} bytes is too short for a .qmodel file")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read: {exc}") from exc
    magic, major, minor, flags, hlen, data_off, rec_size = PREAMBLE.unpack_from(mm, 0)
    if magic != MAGIC:
        _fail(f"{path}: not a .qmodel file (bad magic {magic!r})")
    if major > VERSION[0]:
        _fail(f"{path}: format version {major}.{minor} was made by a newer qengine; this "
              f"qengine reads version {VERSION[0]}.x — upgrade qengine")
    if major < 1 or flags != 0:
        _fail(f"{path}: unsupported format version {major}.{minor} / flags {flags:#x}")
    if rec_size != size:
        _fail(f"{path}: file is {size} bytes but its preamble says {rec_size} (truncated "
              f"or appended to)")
    if hlen > MAX_HEADER or PREAMBLE.size + hlen > data_off or data_off > size \
            or data_off % ALIGN:
        _fail(f"{path}: header length {hlen} / data offset {data_off} do not fit the file")
    try:
        header = json.loads(bytes(mm[PREAMBLE.size:PREAMBLE.size + hlen]).decode("utf-8"),
                            parse_constant=lambda c: _fail(f"header holds {c}"))
    except (ValueError, RecursionError) as exc:  # also JSON ints of > 4300 digits
        raise ModelFormatError(f"{path}: header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        _fail(f"{path}: header must be a JSON object")
    return QModelFile(header, _map_constants(header, mm, data_off, size), (major, minor),
                      size, mm)


def _map_constants(header, mm, data_off, size):
    table = header.get("constants", {})
    if not isinstance(table, dict):
        _fail("header field 'constants' must be an object")
    out = {}
    for name, c in table.items():
        where = f"constant {name!r}"
        if not isinstance(c, dict):
            _fail(f"{where} must be an object")
        dtype = c.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            _fail(f"{where}: unknown dtype {dtype!r} (known: {sorted(DTYPES)})")
        shape = _check_shape(where, c.get("shape"))
        offset = _check_int(f"{where} offset", c.get("offset"), 0, size)
        nbytes = _check_int(f"{where} nbytes", c.get("nbytes"), 0, size)
        itemsize = np.dtype(DTYPES[dtype]).itemsize
        if nbytes != math.prod(shape) * itemsize:
            _fail(f"{where}: nbytes {nbytes} does not match shape {list(shape)} of {dtype}")
        if offset % ALIGN or data_off + offset + nbytes > size:
            _fail(f"{where}: bytes [{offset}, {offset + nbytes}) are misaligned or outside "
                  f"the data section")
        arr = np.frombuffer(mm, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<"),
                            count=math.prod(shape), offset=data_off + offset)
        out[name] = arr.reshape(shape)
    return out
