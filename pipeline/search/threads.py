"""FAISS's OpenMP thread count (process-wide state), set for a block of work and restored after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import faiss


@contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """Inside the block FAISS uses ``count`` threads; after it, whatever ended it (an exception too),
    as many as before."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
