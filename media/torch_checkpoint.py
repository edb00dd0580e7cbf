"""Read a legacy (pre-1.6, non-zip) PyTorch ``.pth`` state dict into NumPy arrays, without PyTorch.

The format is a run of pickles: magic number, protocol version, system info, the state dict (its
tensors reference storages by key through pickle's persistent ids), the list of storage keys, then
each storage's raw bytes preceded by its element count. Tensors are views with explicit strides
(checkpoints converted from TensorFlow keep TF's memory layout), so strides are honoured.

Only the classes a state dict needs are resolved; anything else in the pickle raises, which keeps a
hostile file from running code.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, size: Any, stride: Any, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"checkpoint refers to {module}.{name}, which a plain state dict never needs")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unexpected storage type {storage_type!r}")
        return _StorageRef(str(key), _STORAGE_DTYPES[storage_type.name])


def _read_storages(f: IO[bytes], keys: list[str], dtypes: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        header = f.read(8)
        if len(header) != 8:
            raise CheckpointError("checkpoint is truncated in its storage section")
        (count,) = struct.unpack("<q", header)
        dtype = dtypes.get(key, np.dtype("u1"))
        raw = f.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise CheckpointError(f"storage {key} is truncated")
        storages[key] = np.frombuffer(raw, dtype=dtype)
    return storages


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Return the checkpoint's tensors by name, as contiguous NumPy arrays in PyTorch's (logical) shape."""
    with open(path, "rb") as f:
        try:
            magic = pickle.load(f)
            if magic != LEGACY_MAGIC:
                raise CheckpointError(f"{os.fspath(path)} is not a legacy PyTorch checkpoint")
            pickle.load(f)  # protocol version
            sys_info = pickle.load(f)
            if not sys_info.get("little_endian", True):
                raise CheckpointError("big-endian checkpoints are not supported")
            state = _Unpickler(f).load()
            keys = pickle.load(f)
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
            raise CheckpointError(f"{os.fspath(path)} is not a readable PyTorch checkpoint: {exc}") from exc
        if not isinstance(state, dict):
            raise CheckpointError("checkpoint does not hold a state dict")
        dtypes = {t.storage.key: t.storage.dtype for t in state.values() if isinstance(t, _TensorRef)}
        storages = _read_storages(f, [str(k) for k in keys], dtypes)
    tensors: dict[str, np.ndarray] = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            continue
        base = storages[ref.storage.key]
        itemsize = base.dtype.itemsize
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides, strict=True) if n)
        if ref.offset < 0 or (ref.shape and last >= base.size):
            raise CheckpointError(f"tensor {name} reaches past its storage")
        view = np.lib.stride_tricks.as_strided(
            base[ref.offset:], shape=ref.shape, strides=tuple(s * itemsize for s in ref.strides), writeable=False
        )
        tensors[name] = np.array(view, copy=True)  # contiguous, and 0-d stays 0-d
    return tensors
