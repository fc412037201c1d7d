"""The embeddings an audit looks for: in rows, in raw float32 bytes at any offset (against a brute-force scan of
every window), and in FAISS indexes of every kind the project builds, read back in their own code."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from pipeline.erasure.vectors import SoughtVectors
from pipeline.search.vector_index import train_index
from pipeline.similarity.thresholds import same_vector_threshold

COSINE = same_vector_threshold().value  # 0.9999


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def moved_to(vector: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from the unit ``vector``."""
    away = rng.normal(size=vector.shape)
    away -= away @ vector * vector
    return unit(cosine * vector + np.sqrt(1 - cosine**2) * away / np.linalg.norm(away))


def brute_force(data: bytes, sought: np.ndarray) -> set[int]:
    """Every window of dim float32 values at every byte offset, compared with every sought vector."""
    found, dim = set(), sought.shape[1]
    for shift in range(4):
        with np.errstate(all="ignore"):
            floats = np.frombuffer(data, np.float32, count=(len(data) - shift) // 4, offset=shift).astype(np.float64)
            windows = np.lib.stride_tricks.sliding_window_view(floats, dim)
            cosines = (windows @ sought.T) / np.linalg.norm(windows, axis=1, keepdims=True)
        found |= set(np.flatnonzero((cosines >= COSINE).any(axis=0)).tolist())
    return found


def test_rows_within_the_cosine_are_found_and_rows_beyond_it_are_not() -> None:
    rng = np.random.default_rng(0)
    sought = unit(rng.normal(size=(3, 128)))
    stored = np.stack([moved_to(sought[0], 0.99995, rng), moved_to(sought[1], 0.999, rng), 5.0 * sought[2]])

    assert SoughtVectors(list(sought), COSINE).in_rows(stored) == {0, 2}  # the length of a row does not matter
    assert SoughtVectors(list(sought), COSINE).in_rows(stored[:, :64]) == set(), "rows of another dimension"


def test_vectors_in_raw_bytes_are_found_at_any_offset_as_a_brute_force_scan_finds_them() -> None:
    rng = np.random.default_rng(1)
    sought = unit(rng.normal(size=(6, 64)))
    sought[5, :12] = 0.001  # more components near 0 than the keys allow: compared with every window
    sought[5] = unit(sought[5])
    noise = rng.normal(size=20_000).astype(np.float32).tobytes()
    planted = [
        (0, sought[0]),
        (1, 3.5 * sought[1]),
        (2, moved_to(sought[2], 0.99992, rng)),
        (3, moved_to(sought[3], 0.9995, rng)),  # too far: not found
        (3, sought[5]),
    ]
    data = bytearray(noise)
    for number, (shift, vector) in enumerate(planted):
        at = 4000 * (number + 1) + shift
        data[at : at + 256] = np.asarray(vector, np.float32).tobytes()
    data = bytes(data)

    found = SoughtVectors(list(sought), COSINE).in_floats(data)

    assert found == {0, 1, 2, 5}
    assert found == brute_force(data, sought)


def test_random_bytes_hold_no_vector_and_short_data_is_fine() -> None:
    rng = np.random.default_rng(2)
    sought = SoughtVectors(list(unit(rng.normal(size=(50, 32)))), COSINE)
    data = rng.integers(0, 256, size=100_000, dtype=np.uint8).tobytes()

    assert sought.in_floats(data) == set()
    assert sought.in_floats(b"abc") == set()


@pytest.mark.parametrize(
    "factory",
    ["Flat", "HNSW32,Flat", "IVF8,PQ16x4fs,RFlat", "OPQ8,IVF8,PQ8,Refine(SQ8)", "OPQ8,IVF8,PQ8", "SQ8"],
)
def test_vectors_in_a_faiss_index_are_read_back_in_its_own_code(factory: str) -> None:
    rng = np.random.default_rng(3)
    stored = unit(rng.normal(size=(800, 32)))
    index = faiss.index_factory(32, factory, faiss.METRIC_L2)
    if "IVF" in factory:
        train_index(index, stored)  # as the index job trains its IVF indexes
    else:
        index.train(stored)
    index.add(stored)
    data = faiss.serialize_index(index).tobytes()
    sought = SoughtVectors([*stored[[5, 400, 799]], *unit(rng.normal(size=(20, 32)))], COSINE)

    assert sought.in_faiss(data) == {0, 1, 2}


def test_an_index_of_another_dimension_holds_nothing_sought_and_bytes_that_are_no_index_raise() -> None:
    index = faiss.IndexFlatL2(16)
    index.add(unit(np.random.default_rng(4).normal(size=(10, 16))))
    sought = SoughtVectors(list(unit(np.random.default_rng(5).normal(size=(3, 32)))), COSINE)

    assert sought.in_faiss(faiss.serialize_index(index).tobytes()) == set()
    with pytest.raises(RuntimeError):
        sought.in_faiss(b"not an index at all")
