"""Keep large freed buffers for reuse instead of handing them back to the OS (glibc malloc).

Every Predict answer passes through fresh multi-megabyte buffers at both ends: on the server the
wire bytes and gRPC's copy of them, on the client gRPC's read buffers and the bytes it assembles
them into (a batch of 32 ResNet-18 read-outs at 64 px is 17.5 MB). glibc's default - a mmap
threshold that adapts to what was freed, per-thread arenas trimmed on free - often serves these
from memory it has just returned to the OS, so each answer page-faults them in anew; whether it
does depends on the process's allocation history. Measured at batch 32 (2-CPU VM): ~8,000 minor
faults and ~40 ms more server CPU per answer; on the client, 50-60 ms instead of ~22 ms from the
server handing over the answer to the client holding it, unless the client process happened to
allocate alike before (as the benchmark's direct calls do). Fixed mmap and trim thresholds above
the answer size make both ends reuse the same pages, whatever came before. The cost: freed memory
up to the threshold stays with the process instead of going back to the OS.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
SERVER_REUSE_BYTES = 1 << 30  # vvs-serve owns its process
CLIENT_REUSE_BYTES = 256 << 20  # evaluators hold other large arrays; keep the retention moderate
_applied = {"limit": 0}


def reuse_freed_memory(limit_bytes: int = SERVER_REUSE_BYTES) -> bool:
    """Make glibc serve blocks below `limit_bytes` from its heaps and keep up to that much freed
    memory there. Process-wide; never lowers a limit set before. Returns whether the limit is in
    effect: False without glibc, or when GLIBC_TUNABLES already sets malloc options (the user's
    choice wins)."""
    if limit_bytes <= 0:
        raise ValueError(f"limit_bytes must be positive, got {limit_bytes}")
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    limit = min(int(limit_bytes), 2**31 - 1)
    if limit <= _applied["limit"]:
        return True
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, limit) and mallopt(_M_TRIM_THRESHOLD, limit):
        _applied["limit"] = limit
        return True
    return False
