"""Candidate pairs of copies: photos whose PDQ hash lies near a PDQ hash of another photo as it is or
transformed (mirrored, rotated, centre-cropped, unframed), found in a FAISS binary index (a flat scan
for small libraries, multi-index hashing beyond) without comparing every pair. Blocks of queries run
as tasks (one process, or Ray)."""

from __future__ import annotations

import logging
import time

import faiss
import numpy as np

from pipeline import schema as S
from pipeline.progress import Progress
from pipeline.runtime.tasks import LocalTasks, Tasks, task_report

log = logging.getLogger(__name__)

HASH_BYTES = 32
FLAT_LIMIT = 200_000  # codes up to which the index is a flat scan; above, multi-index hashing
SUBSTRINGS, FLIPS = 16, 0  # 16 hash tables of 16 bits, each probed with the query's own substring
MIN_QUERY_BLOCK = 50_000  # a task searches at least this many photos: each loads the whole index first
VARIANTS = ("as_is", *S.PDQ_VARIANT_NAMES)  # code k of a photo: its hash (0) or its variant k-1


def hash_codes(hashes: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32) uint8 codes of PDQ hashes, and which of them exist (b"" or None: no hash)."""
    present = np.array([bool(h) and len(h) == HASH_BYTES for h in hashes], bool)
    codes = np.zeros((len(hashes), HASH_BYTES), np.uint8)
    if present.any():
        codes[present] = np.frombuffer(b"".join(h for h, p in zip(hashes, present) if p), np.uint8).reshape(
            -1, HASH_BYTES
        )
    return codes, present


def library_codes(
    pdq: list[bytes | None], variants: list[list[bytes] | None], photos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every code of ``photos`` (each one's hash and its variants' hashes) and, per code, its
    photo * len(VARIANTS) + variant."""
    per_photo = len(VARIANTS)
    flat = [
        code for i in photos for code in [pdq[i], *((variants[i] or []) + [b""] * (per_photo - 1))[: per_photo - 1]]
    ]
    codes, present = hash_codes(flat)
    keys = (np.repeat(photos, per_photo) * per_photo + np.tile(np.arange(per_photo), len(photos)))[present]
    return codes[present], keys


def _index(codes: np.ndarray, threads: int) -> faiss.IndexBinary:
    faiss.omp_set_num_threads(threads)
    if len(codes) <= FLAT_LIMIT:
        index = faiss.IndexBinaryFlat(HASH_BYTES * 8)
    else:
        # Multi-index hashing: two codes within 15 bits agree on one of 16 substrings (pigeonhole);
        # with d bits flipped at random, some substring is untouched with probability
        # 1 - (1 - (15/16)^d)^16: 0.98 at 24 bits, 0.72 at 40. Measured on 200k random hashes with
        # copies up to 24 bits off: 99.4% of them found in 30 s; probing every 1-bit change too
        # (exact up to 31 bits) found 99.5% in 179 s, and an inverted file (k-means lists, 16
        # probes) 92%, its training growing with lists^2.
        index = faiss.IndexBinaryMultiHash(HASH_BYTES * 8, SUBSTRINGS, HASH_BYTES * 8 // SUBSTRINGS)
        index.nflip = FLIPS
    index.add(codes)
    return index


def _search_block(
    threads: int,
    index_bytes: np.ndarray,
    queries: np.ndarray,
    owners: np.ndarray,
    keys: np.ndarray,
    k: int,
    radius: int,
) -> tuple[np.ndarray, dict]:
    """(query photo, code key, distance) of the codes within ``radius`` of each query's ``k`` nearest."""
    started = time.perf_counter()
    faiss.omp_set_num_threads(threads)
    index = faiss.deserialize_index_binary(index_bytes)
    if isinstance(index, faiss.IndexBinaryMultiHash):
        index.nflip = FLIPS
    distances, found = index.search(queries, k)
    near = (found >= 0) & (distances <= radius)
    rows, cols = np.nonzero(near)
    hits = np.stack([owners[rows], keys[found[rows, cols]], distances[rows, cols]], axis=1).astype(np.int64)
    return hits, task_report(started, queries=len(queries), hits=len(hits))


def near_pairs(
    pdq: list[bytes | None],
    variants: list[list[bytes] | None],
    radius: int,
    k: int,
    queries: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    tasks: Tasks | None = None,
) -> np.ndarray:
    """Pairs of photos with the hash of one (i) within ``radius`` bits of a hash of the other (j) as it
    is or as a variant, among each query's ``k`` nearest codes: rows (i, j, distance, variant), the
    variant (index into VARIANTS) of j's code that matched; one row per pair, its smallest distance. ``queries``: the
    photos whose hashes are looked up, ``targets``: the photos whose codes are indexed (default: all)."""
    tasks = tasks or LocalTasks()
    everyone = np.arange(len(pdq))
    codes, keys = library_codes(pdq, variants, everyone if targets is None else np.asarray(targets, np.int64))
    own, present = hash_codes(pdq)
    asked = everyone if queries is None else np.asarray(queries, np.int64)
    asked = asked[present[asked]]
    if not len(codes) or not len(asked):
        return np.zeros((0, 4), np.int64)
    index = tasks.put(faiss.serialize_index_binary(_index(codes, tasks.node_cpus)))
    shared_keys = tasks.put(keys)
    nearest = min(k + len(VARIANTS), len(codes))  # a photo's own codes are among its nearest
    parts = max(1, min(-(-len(asked) // MIN_QUERY_BLOCK), 2 * tasks.cpus if tasks.cpus > 1 else 1))
    blocks = np.array_split(asked, parts)
    handles = [
        tasks.submit(_search_block, index, own[block], block, shared_keys, nearest, radius, returns=2)
        for block in blocks
    ]
    found = []
    with Progress("dedup: photos' hashes looked up", len(asked), "photo") as bar:
        for block, (hits, _) in zip(blocks, handles):
            found += tasks.get([hits])
            bar.advance(len(block))
    log.info("pair search: %s", tasks.get([report for _, report in handles]))
    hits = np.concatenate(found) if found else np.zeros((0, 3), np.int64)
    other, variant = hits[:, 1] // len(VARIANTS), hits[:, 1] % len(VARIANTS)
    hits = np.stack([hits[:, 0], other, hits[:, 2], variant], axis=1)[hits[:, 0] != other]
    lo, hi = np.minimum(hits[:, 0], hits[:, 1]), np.maximum(hits[:, 0], hits[:, 1])
    order = np.lexsort((hits[:, 2], hi, lo))
    hits, lo, hi = hits[order], lo[order], hi[order]
    first = np.ones(len(hits), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return hits[first]
