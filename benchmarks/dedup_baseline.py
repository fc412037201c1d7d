"""The perceptual-hash duplicate finder popular tools ship, as a baseline for facepipe's dedup.

    python -m benchmarks.dedup_baseline --library FOLDER [--thresholds 4 10] [--methods phash dhash]

As imagededup and the imagehash recipes do it: each photo opened with PIL as stored (no EXIF
orientation applied), hashed to 64 bits (imagehash.phash or dhash); two photos are duplicates when
their hashes differ in at most THRESHOLD bits (4; 10 is imagededup's default), and duplicates are
grouped transitively (union-find: connected components). The largest file of a group is its keeper.
Prints one JSON object: per method and threshold, pipeline.evaluate.dedup's metrics against
FOLDER/truth.csv, and seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.evaluate.dedup import DedupTruth, read_dedup_truth, score_groups

log = logging.getLogger(__name__)

HASHES = {"phash": imagehash.phash, "dhash": imagehash.dhash}
THRESHOLDS = (4, 10)
_BLOCK = 1024  # rows of the all-pairs distance matrix computed at once


def hash_photos(paths: list[str], method: str) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit ``method`` hash (a key of HASHES) of each photo, as uint64, and whether PIL could
    open it (a photo it cannot open joins no group)."""
    hashes, readable = np.zeros(len(paths), np.uint64), np.ones(len(paths), bool)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                hashes[i] = np.packbits(HASHES[method](image).hash.flatten()).view(">u8")[0]
        except OSError as exc:
            log.warning("cannot hash %s: %s", path, exc)
            readable[i] = False
        if (i + 1) % 5000 == 0:
            log.info("%s: hashed %d of %d photos", method, i + 1, len(paths))
    return hashes, readable


def close_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) of hashes at most ``threshold`` bits apart: (i, j, distance) arrays.
    All pairs are compared (n^2 / 2 XORs and popcounts, blocks of _BLOCK rows): exact, and seconds
    for tens of thousands of photos."""
    found_i, found_j, found_d = [], [], []
    for start in range(0, len(hashes), _BLOCK):
        rows = hashes[start : start + _BLOCK]
        distances = np.bitwise_count(rows[:, None] ^ hashes[None, :])
        i, j = np.nonzero(distances <= threshold)
        i += start
        keep = i < j
        found_i.append(i[keep])
        found_j.append(j[keep])
        found_d.append(distances[i[keep] - start, j[keep]])
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d).astype(np.int64)


def hash_groups(
    uris: list[str], sizes: list[int], pairs: tuple[np.ndarray, np.ndarray]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Groups of photos joined by ``pairs`` (indices into ``uris``), transitively: uri -> group id
    (None when alone), and group id -> its keeper, the largest file (by ``sizes``)."""
    n = len(uris)
    graph = coo_matrix((np.ones(len(pairs[0])), pairs), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members = np.bincount(labels, minlength=n)
    groups = {uri: (f"g{label}" if members[label] > 1 else None) for uri, label in zip(uris, labels)}
    keepers: dict[str, str] = {}
    for i in sorted(range(n), key=lambda i: -sizes[i]):  # largest first; ties: the first listed
        if groups[uris[i]] is not None:
            keepers.setdefault(groups[uris[i]], uris[i])
    return groups, keepers


def _direct_pairs(uris: list[str], truth: DedupTruth, i: np.ndarray, j: np.ndarray) -> dict:
    """Precision and recall of the pairs within the threshold themselves, before grouping (what
    imagededup's find_duplicates lists per photo)."""
    right = sum(truth.originals[uris[a]] == truth.originals[uris[b]] for a, b in zip(i, j))
    true_pairs = sum(n * (n - 1) // 2 for n in Counter(truth.originals.values()).values())
    return {"pairs": len(i), "precision": right / len(i) if len(i) else 1.0, "recall": right / true_pairs}


def run_baselines(
    truth: DedupTruth, methods: tuple[str, ...] = tuple(HASHES), thresholds: tuple[int, ...] = THRESHOLDS
) -> dict:
    """For each method and threshold ("phash<=4", ...), the baseline's groups over the photos of
    ``truth`` scored by pipeline.evaluate.dedup.score_groups, with the seconds hashing took
    (``hash_seconds``) and grouping took (``seconds``), and ``pairs_within_threshold``: the precision
    and recall of the close pairs themselves, before they are grouped transitively."""
    uris = sorted(truth.originals)
    sizes = [os.path.getsize(uri) for uri in uris]
    figures = {}
    for method in methods:
        started = time.perf_counter()
        hashes, readable = hash_photos(uris, method)
        hashed = time.perf_counter() - started
        i, j, distance = close_pairs(hashes, max(thresholds))
        i, j, distance = (column[readable[i] & readable[j]] for column in (i, j, distance))
        for threshold in thresholds:
            started = time.perf_counter()
            close = distance <= threshold
            groups, keepers = hash_groups(uris, sizes, (i[close], j[close]))
            metrics = score_groups(groups, keepers, truth)
            metrics["pairs_within_threshold"] = _direct_pairs(uris, truth, i[close], j[close])
            metrics.update(hash_seconds=round(hashed, 1), seconds=round(time.perf_counter() - started, 1))
            figures[f"{method}<={threshold}"] = metrics
            log.info(
                "%s<=%d: pairwise precision %.4f, recall %.4f",
                method,
                threshold,
                metrics["pairwise_precision"],
                metrics["pairwise_recall"],
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--library", required=True, type=Path, help="folder holding truth.csv (benchmarks.dedup_library)"
    )
    parser.add_argument("--methods", nargs="+", choices=list(HASHES), default=list(HASHES))
    parser.add_argument("--thresholds", nargs="+", type=int, default=list(THRESHOLDS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    truth = read_dedup_truth(str(args.library / "truth.csv"))
    print(json.dumps(run_baselines(truth, tuple(args.methods), tuple(args.thresholds))))


if __name__ == "__main__":
    main()
