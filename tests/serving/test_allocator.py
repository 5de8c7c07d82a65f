"""vvs-serve's process, and any process holding a serving client, reuses freed multi-megabyte
buffers instead of page-faulting them in anew for every answer."""
import vvs_tf  # noqa: F401

import os
import subprocess
import sys
import textwrap

import pytest

# What a Predict answer does to memory in a worker thread: the wire bytes joined from the arrays,
# then a copy of them (gRPC's), both freed before the next request.
_REQUESTS = textwrap.dedent("""
    import ctypes, ctypes.util, resource, sys
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    from vvs_tf.serving import allocator

    if sys.argv[1] == "client":  # a gRPC client (its channel connects lazily: no server needed)
        from vvs_tf.serving.client import connect
        connect("grpc://127.0.0.1:9/model").close()
        took = hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt")  # glibc's malloc
    else:
        took = allocator.reuse_freed_memory() if sys.argv[1] == "reuse" else False
    parts = [np.ones(n, np.float32) for n in (2_097_152, 524_288, 1_048_576, 262_144)]

    def answer():
        data = b"".join([b"head", *map(memoryview, parts)])
        return len(bytes(bytearray(data)))

    faults = []
    with ThreadPoolExecutor(2) as pool:
        for _ in range(6):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            pool.submit(answer).result()
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(took, max(faults[2:]))
""")
_PAGES = 2 * 3_932_160 * 4 // 4096  # two fresh 15 MB buffers per answer, in 4 KiB pages


def _faults(mode, **env):
    out = subprocess.run([sys.executable, "-c", _REQUESTS, mode], capture_output=True, text=True,
                         check=True, env={**os.environ, **env}).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.parametrize("mode", ["reuse", "client"])
def test_freed_answers_are_reused_not_faulted_in_again(mode):
    took, faults = _faults(mode)
    if not took:
        pytest.skip("no glibc mallopt here")
    assert faults < _PAGES // 10, f"{faults} page faults per answer after warm-up"


def test_the_users_malloc_tunables_win():
    took, _ = _faults("reuse", GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")
    assert not took
