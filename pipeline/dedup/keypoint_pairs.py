"""Candidate edited copies from the photos' keypoints (pipeline.ingest.keypoints): every keypoint looks for
its nearest keypoints of other photos in a FAISS binary index; two photos become a candidate when enough
of the matches between them agree on one similarity transform (a crop, a scale, a small rotation: what a
caption bar, a screenshot's frame or a blurred square fit leave of the photo too), fitted by RANSAC on
the keypoints' stored places. No photo is read: the pairs go on to be read back and checked
(pipeline.dedup.edits). Blocks of queries run as tasks (one process, or Ray).

Measured on the app-copies library (3,660 photos; benchmarks.dedup_library): at 5 agreeing matches,
every app-made copy with a face but one reached its original (319 of 320), and 123 of 160 without faces;
9,497 pairs in all. At scale (benchmarks.keypoint_scale) the search grows faster than the library: 6.4
million keypoints (100,000 photos) took 483 s (the search 314 s) and 4.8 GB on 2 cores, beside other jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import faiss
import numpy as np

from pipeline.dedup.edits import plausible
from pipeline.ingest.keypoints import DESCRIPTOR_BYTES, unpack_keypoints
from pipeline.progress import Progress
from pipeline.runtime.tasks import LocalTasks, Tasks, task_report
from pipeline.search.threads import faiss_threads

log = logging.getLogger(__name__)

NEIGHBOURS = 8  # nearest keypoints looked up per keypoint
RADIUS = 32  # bits of 256 at most between a keypoint and its match (copies: median 8-19, 90% under 36)
FLAT_LIMIT = 200_000  # keypoints up to which the index is a flat scan; above, an inverted file
PROBES = 16  # lists an inverted file's search scans
MIN_QUERY_BLOCK = 100_000  # keypoints a search task looks up at least: each loads the whole index first
RANSAC_TOLERANCE = 0.015  # of the photo's longer side: where a match must land to agree (4 px at 256)


def _library(packed: Sequence[bytes | None], sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes (m, 32) uint8, owner photo of each, places (m, 2) in units of its photo's longer side)."""
    codes, owners, places = [], [], []
    for photo, keypoints in enumerate(packed):
        if not keypoints:
            continue
        descriptors, shares = unpack_keypoints(keypoints)
        width, height = sizes[photo]
        codes.append(descriptors)
        owners.append(np.full(len(descriptors), photo, np.int64))
        places.append(shares * [width, height] / max(width, height, 1))
    if not codes:
        return np.zeros((0, DESCRIPTOR_BYTES), np.uint8), np.zeros(0, np.int64), np.zeros((0, 2))
    return np.concatenate(codes), np.concatenate(owners), np.concatenate(places)


def _index(codes: np.ndarray, seed: int) -> faiss.IndexBinary:
    if len(codes) <= FLAT_LIMIT:
        index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
    else:
        lists = int(2 ** round(np.log2(4 * np.sqrt(len(codes)))))
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8), DESCRIPTOR_BYTES * 8, lists)
        sample = np.random.default_rng(seed).choice(len(codes), min(len(codes), 40 * lists), replace=False)
        index.train(codes[np.sort(sample)])
        index.nprobe = PROBES
    index.add(codes)
    return index


def _search_block(threads: int, index_bytes: np.ndarray, queries: np.ndarray, rows: np.ndarray, k: int):
    """(query keypoint, matched keypoint) rows of the matches within RADIUS among each query's k nearest."""
    started = time.perf_counter()
    with faiss_threads(threads):
        index = faiss.deserialize_index_binary(index_bytes)
        if isinstance(index, faiss.IndexBinaryIVF):
            index.nprobe = PROBES
        distances, found = index.search(queries, k)
    near = (found >= 0) & (distances <= RADIUS)
    at, column = np.nonzero(near)
    matches = np.stack([rows[at], found[at, column]], axis=1).astype(np.int64)
    return matches, task_report(started, keypoints=len(queries), matches=len(matches))


def _agreeing(matches: np.ndarray, places: np.ndarray) -> int:
    """How many ``matches`` (keypoint of the first photo, of the second) one similarity transform explains."""
    first = np.ascontiguousarray(places[matches[:, 0]], np.float32)
    second = np.ascontiguousarray(places[matches[:, 1]], np.float32)
    transform, inliers = cv2.estimateAffinePartial2D(
        second, first, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=500
    )
    return int(inliers.sum()) if plausible(transform) else 0  # not a degenerate one (every match onto one spot)


def keypoint_pairs(
    packed: Sequence[bytes | None],
    sizes: np.ndarray,
    min_agreeing: int,
    queries: np.ndarray | None = None,
    tasks: Tasks | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Pairs of photos (``packed``: each one's keypoints, b"" or None for none; ``sizes``: (n, 2) upright
    width and height) with at least ``min_agreeing`` keypoint matches that one similarity transform
    explains: rows (i, j, agreeing matches), i < j, one per pair. ``queries``: the photos whose keypoints
    are looked up (default: all); they are looked up among every photo's."""
    tasks = tasks or LocalTasks()
    codes, owners, places = _library(packed, np.asarray(sizes))
    asked = np.flatnonzero(np.isin(owners, queries)) if queries is not None else np.arange(len(codes))
    if len(codes) < 2 or not len(asked):
        return np.zeros((0, 3), np.int64)
    with faiss_threads(tasks.node_cpus):
        index = tasks.put(faiss.serialize_index_binary(_index(codes, seed)))
    nearest = min(NEIGHBOURS + 1, len(codes))  # a keypoint's own code is among its nearest
    parts = max(1, min(-(-len(asked) // MIN_QUERY_BLOCK), 2 * tasks.cpus if tasks.cpus > 1 else 1))
    blocks = np.array_split(asked, parts)
    handles = [tasks.submit(_search_block, index, codes[block], block, nearest, returns=2) for block in blocks]
    found = []
    with Progress("dedup: keypoints looked up", len(asked), "keypoint") as bar:
        for block, (matches, _) in zip(blocks, handles):
            found += tasks.get([matches])
            bar.advance(len(block))
    log.info("keypoint search: %s", tasks.get([report for _, report in handles]))
    matches = np.concatenate(found)
    matches = matches[owners[matches[:, 0]] != owners[matches[:, 1]]]
    swap = owners[matches[:, 0]] > owners[matches[:, 1]]  # the first keypoint of each match: the lower photo's
    matches[swap] = matches[swap][:, ::-1]
    matches = np.unique(matches, axis=0)
    pair_of = owners[matches[:, 0]] * len(packed) + owners[matches[:, 1]]
    order = np.argsort(pair_of, kind="stable")
    matches, pair_of = matches[order], pair_of[order]
    starts = np.flatnonzero(np.r_[True, pair_of[1:] != pair_of[:-1]])
    stops = np.r_[starts[1:], len(pair_of)]
    enough = stops - starts >= min_agreeing  # most pairs share a match or two: no fit is tried for them
    rows = []
    for start, stop in zip(starts[enough], stops[enough]):
        agreeing = _agreeing(matches[start:stop], places)
        if agreeing >= min_agreeing:
            rows.append((pair_of[start] // len(packed), pair_of[start] % len(packed), agreeing))
    return np.array(rows, np.int64).reshape(-1, 3)
