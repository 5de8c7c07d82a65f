"""Fixtures shared by the evaluator tests."""
import vvs_tf  # noqa: F401

import pytest
import threadpoolctl


@pytest.fixture
def one_blas_thread():
    """Two shared cores: multi-threaded BLAS spins and runs ~10x slower than one thread."""
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        yield
