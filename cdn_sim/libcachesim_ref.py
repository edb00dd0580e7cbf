"""libCacheSim (the ``libcachesim`` package) as the reference: the field's policies on our request streams.

:func:`replay` feeds one request stream through one libCacheSim policy, request by request through its
Python API, at a byte capacity, and returns a hit flag per request, so the simulator counts its hits
exactly as it counts its own (after the warm-up, per tier). Request ``i`` is sent with logical time
``i`` and, for the offline ``beladysize``, the position of the object's next request.

libCacheSim is optional: :func:`available` says whether it is installed, and the simulator prints a line
saying how to install it when it is not.

Notes from running it on these traces (0.3.5): ``clockpro`` is left out (with variable object sizes it
serves half of what LRU does, a bug, not a policy); W-TinyLFU sizes its count-min sketch from the
capacity in an ``int`` and breaks above 2 GiB, so for it sizes are counted in units of 2, 4, ... bytes
(rounded up) to keep the capacity below 2 ** 31; the error is at most a unit per object.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from cdn_sim.belady import NEVER, next_use

INSTALL_HINT = "libCacheSim comparison skipped: pip install libcachesim==0.3.5 (the dev extra has it)"

# name -> (libcachesim class, constructor keywords). Same names as ours where the policy is the same.
_POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    "lru": ("LRU", {}),
    "sieve": ("Sieve", {}),
    "s3fifo": ("S3FIFO", {}),
    "wtinylfu": ("WTinyLFU", {}),
    "arc": ("ARC", {}),
    "lhd": ("LHD", {}),
    "gdsf": ("GDSF", {}),
    "twoq": ("TwoQ", {}),
    "lfuda": ("LFUDA", {}),
    "lirs": ("LIRS", {}),
    "cacheus": ("Cacheus", {}),
    "beladysize": ("BeladySize", {}),
}
POLICIES: tuple[str, ...] = tuple(_POLICIES)
ONLINE: tuple[str, ...] = tuple(p for p in POLICIES if p != "beladysize")
SAME_AS_OURS: tuple[str, ...] = ("lru", "sieve", "s3fifo")  # the agreement check (within 0.5 points)
_INT_CAPACITY = (1 << 31) - 1


def available() -> bool:
    return importlib.util.find_spec("libcachesim") is not None


def _make(policy: str, capacity: int) -> Any:
    import libcachesim

    cls, kwargs = _POLICIES[policy]
    factory: Callable[..., Any] = getattr(libcachesim, cls)
    return factory(capacity, **kwargs)


def replay(policy: str, capacity_bytes: int, keys: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Hit flags of libCacheSim's ``policy`` over the stream, at ``capacity_bytes``."""
    if policy not in _POLICIES:
        raise ValueError(f"unknown libCacheSim policy {policy!r}; known: {', '.join(POLICIES)}")
    import libcachesim

    unit = 1
    if policy == "wtinylfu":
        while capacity_bytes // unit > _INT_CAPACITY:
            unit *= 2
    cache = _make(policy, capacity_bytes // unit)
    size_list = (np.asarray(sizes, dtype=np.int64) + unit - 1) // unit if unit > 1 else np.asarray(sizes)
    req = libcachesim.Request()
    req.op = libcachesim.ReqOp.OP_READ
    get = cache.get
    out = bytearray(len(keys))
    if policy == "beladysize":
        nxt = next_use(keys)
        never, far = int(NEVER), np.iinfo(np.int64).max
        for i, (k, s, n) in enumerate(zip(np.asarray(keys).tolist(), size_list.tolist(), nxt.tolist())):  # noqa: B905
            req.obj_id, req.obj_size, req.clock_time = k, s, i
            req.next_access_vtime = far if n == never else n
            out[i] = get(req)
    else:
        for i, (k, s) in enumerate(zip(np.asarray(keys).tolist(), size_list.tolist())):  # noqa: B905
            req.obj_id, req.obj_size, req.clock_time = k, s, i
            out[i] = get(req)
    return np.frombuffer(bytes(out), dtype=np.uint8).astype(bool)
