"""The embeddings an audit looks for, found where a stored vector lies within a given cosine of one (the threshold
service's same_vector_threshold): in rows of a vector column, in a FAISS index (its vectors read back in the
index's own code) and in raw float32 data."""

from __future__ import annotations

import contextlib
import math

import faiss
import numpy as np

_ELEMENTS = 1 << 22  # similarities computed at once (16 MiB of float32): rows x sought vectors
_ROWS = 1 << 15  # stored vectors read back or compared at once, however few are sought (16 MiB at 128-d)
_KEY_COMPONENTS = 20  # raw scan: a window's key is the signs of its first 20 floats
_MAX_UNSURE = 8  # raw scan: a sought vector with more components near 0 is compared with every window instead
_PAIRS = 1 << 16  # raw scan: windows compared at once


def _block_rows(sought: int) -> int:
    """Stored vectors to compare at once with ``sought`` vectors: _ELEMENTS similarities, _ROWS vectors at most."""
    return max(1, min(_ROWS, _ELEMENTS // max(1, sought)))


def _unit(rows: np.ndarray) -> np.ndarray:
    """``rows`` as float32 scaled to unit length (a zero row stays zero, NaN stays NaN)."""
    rows = np.asarray(rows, np.float32)
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1)


class _OfDimension:
    """The sought vectors of one dimension: unit rows and their numbers among all sought vectors, found from
    ``cosine`` on."""

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, cosine: float):
        self.vectors, self.ids, self.dim, self.cosine = _unit(vectors), ids, vectors.shape[1], cosine
        self._margin = math.sqrt(2 * (1 - cosine)) * 1.01  # the most a unit component moves within it (+1%)
        self._keys, self._owners, self._unsure = self._window_keys()

    def _window_keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each vector's possible raw-scan keys, sorted (and the vector of each), and the vectors with too many
        possible keys. A component beyond the margin from 0 has the sign of the vector's within the cosine: its bit
        is known; one nearer 0 may have either sign, so every combination of those bits is a possible key."""
        width = min(self.dim, _KEY_COMPONENTS)
        keys, owners, unsure = [], [], []
        for row, vector in enumerate(self.vectors[:, :width]):
            either = np.flatnonzero(np.abs(vector) <= self._margin)
            if len(either) > _MAX_UNSURE:
                unsure.append(row)
                continue
            known = int(np.sum((vector > 0).astype(np.int64) << np.arange(width)) & ~np.sum(1 << either))
            combos = np.arange(1 << len(either))
            flips = ((combos[:, None] >> np.arange(len(either))) & 1) << either
            keys.append(known | flips.sum(axis=1))
            owners.append(np.full(len(combos), row))
        keys_all = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        owners_all = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        order = np.argsort(keys_all, kind="stable")
        return keys_all[order], owners_all[order], np.array(unsure, np.int64)

    def in_rows(self, rows: np.ndarray) -> set[int]:
        """The sought vectors within the cosine of one of ``rows`` (n x dim)."""
        step = _block_rows(len(self.vectors))
        hit = np.zeros(len(self.vectors), bool)
        for start in range(0, len(rows), step):
            with np.errstate(all="ignore"):
                hit |= (_unit(rows[start : start + step]) @ self.vectors.T >= self.cosine).any(axis=0)
        return set(self.ids[hit].tolist())

    def in_sequence(self, floats: np.ndarray) -> set[int]:
        """The sought vectors within the cosine of ``dim`` consecutive values of ``floats`` (any start)."""
        starts = len(floats) - self.dim + 1
        if starts <= 0:
            return set()
        width = min(self.dim, _KEY_COMPONENTS)
        window_keys = np.zeros(starts, np.int64)
        for k in range(width):
            window_keys |= (floats[k : k + starts] > 0).astype(np.int64) << k
        lo = np.searchsorted(self._keys, window_keys, "left")
        counts = np.searchsorted(self._keys, window_keys, "right") - lo
        at = np.flatnonzero(counts)
        counts = counts[at]
        first = np.repeat(lo[at] - np.cumsum(counts) + counts, counts)
        positions = np.repeat(at, counts)
        owners = self._owners[first + np.arange(len(first))]
        positions = np.concatenate([positions, np.tile(np.arange(starts), len(self._unsure))])
        owners = np.concatenate([owners, np.repeat(self._unsure, starts)])
        windows = np.lib.stride_tricks.sliding_window_view(floats, self.dim)
        hit = np.zeros(len(self.vectors), bool)
        for begin in range(0, len(positions), _PAIRS):
            where, whose = positions[begin : begin + _PAIRS], owners[begin : begin + _PAIRS]
            with np.errstate(all="ignore"):
                close = np.einsum("ij,ij->i", _unit(windows[where]), self.vectors[whose]) >= self.cosine
            hit[whose[close]] = True
        return set(self.ids[hit].tolist())


def _stored_vectors(index: faiss.Index) -> faiss.Index:
    """The part of ``index`` whose ``reconstruct`` reads its vectors back most exactly: the re-ranking copy of
    a refined index, an HNSW graph's storage, an id map's index; an IVF index with its direct map made."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexRefine):
        return _stored_vectors(index.refine_index)
    if isinstance(index, faiss.IndexHNSW):
        return _stored_vectors(index.storage)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return _stored_vectors(index.index)
    with contextlib.suppress(RuntimeError):  # raised when there is no IVF index inside
        faiss.extract_index_ivf(index).make_direct_map()
    return index


def _in_code(codec: faiss.Index, vectors: np.ndarray) -> np.ndarray:
    """``vectors`` encoded and decoded as ``codec`` stores them (itself where its code is exact or unknown): a
    lossy code (PQ, SQ8) holds a sought vector as the same approximation that it makes of it."""
    try:
        return codec.sa_decode(codec.sa_encode(np.ascontiguousarray(vectors, np.float32)))
    except RuntimeError:  # this kind of index has no standalone codec
        return vectors


class SoughtVectors:
    """Embeddings to look for (float rows of any dimensions), found from ``cosine`` on, numbered in the order
    given, each once: a vector given twice (two rows of one photo's face, a copy's) keeps its first number."""

    def __init__(self, vectors: list[np.ndarray], cosine: float):
        by_dim: dict[int, list[int]] = {}
        seen: set[bytes] = set()
        for number, vector in enumerate(vectors):
            key = np.asarray(vector, np.float32).tobytes()
            if key not in seen:
                seen.add(key)
                by_dim.setdefault(len(vector), []).append(number)
        self.count = len(seen)
        self._by_dim = {
            dim: _OfDimension(np.stack([vectors[i] for i in numbers]), np.array(numbers), cosine)
            for dim, numbers in by_dim.items()
        }

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def dims(self) -> set[int]:
        """The dimensions of the sought vectors."""
        return set(self._by_dim)

    def in_rows(self, rows: np.ndarray) -> set[int]:
        """The sought vectors within the cosine of one of ``rows`` (n x d floats)."""
        group = self._by_dim.get(rows.shape[1]) if rows.ndim == 2 else None
        return group.in_rows(rows) if group is not None and len(rows) else set()

    def in_floats(self, data: bytes) -> set[int]:
        """The sought vectors stored as consecutive float32 values anywhere in ``data``, at any byte offset."""
        found: set[int] = set()
        for shift in range(min(4, len(data))):
            floats = np.frombuffer(data, np.float32, count=(len(data) - shift) // 4, offset=shift)
            for group in self._by_dim.values():
                found |= group.in_sequence(floats)
        return found

    def in_faiss(self, data: bytes) -> set[int]:
        """The sought vectors held by the serialised FAISS index ``data``, read back with FAISS (the vectors of a
        lossy code compared with the sought ones in that code). RuntimeError when FAISS cannot read them back."""
        index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        group = self._by_dim.get(index.d)
        if group is None or not index.ntotal:
            return set()
        codec = _stored_vectors(index)  # a part of ``index``, which stays alive while it is used
        sought = _OfDimension(_in_code(codec, group.vectors), group.ids, group.cosine)
        step = _block_rows(len(sought.vectors))
        found: set[int] = set()
        for start in range(0, codec.ntotal, step):
            found |= sought.in_rows(codec.reconstruct_n(start, min(step, codec.ntotal - start)))
        return found
