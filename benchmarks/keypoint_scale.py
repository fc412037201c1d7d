"""The keypoint search of `dedup.edits` (pipeline.dedup.keypoint_pairs) on seeded synthetic keypoints: its
time, memory and candidate pairs as a library grows (no photos: the read-back of each candidate pair,
about 45 ms of one core, comes on top), in this process with every CPU.

    python -m benchmarks.keypoint_scale --photos 100000 [--copies 0.05] [--seed 0]

Each record holds KEYPOINTS_KEPT keypoints: descriptors drawn from the ORB keypoints of scikit-image's
bundled photos (ORB's descriptors are far from uniform: drawn uniformly, different photos would share
no match at all) with about 8 of their 256 bits flipped, at uniform places. A share of the records are
edited copies of an earlier one: the keypoints of their source inside a crop keeping 50%-90% of its area
(places re-expressed in the crop, about 4 bits flipped), the rest of their keypoints new. Prints one JSON
object: seconds, peak memory, candidate pairs, and the planted copies among them.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time

import cv2
import numpy as np

from pipeline.dedup.keypoint_pairs import keypoint_pairs
from pipeline.ingest.keypoints import DESCRIPTOR_BYTES, KEYPOINTS_KEPT
from pipeline.runtime.tasks import LocalTasks

PHOTOS = ("coffee", "chelsea", "rocket", "coins", "brick", "grass", "gravel", "moon", "clock", "page", "text")
SHARE = 65535


def _pool() -> np.ndarray:
    """ORB descriptors of scikit-image's bundled photos (nothing is downloaded)."""
    from skimage import data

    found = []
    for name in PHOTOS:
        pixels = getattr(data, name)()
        grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        _, descriptors = cv2.ORB_create(nfeatures=2000, fastThreshold=3).detectAndCompute(grey, None)
        found.append(descriptors)
    return np.concatenate(found)


def _noise(rng: np.random.Generator, shape: tuple, ands: int) -> np.ndarray:
    """Random bits, each set with probability 2**-ands."""
    mask = rng.integers(0, 256, shape, dtype=np.uint8)
    for _ in range(ands - 1):
        mask &= rng.integers(0, 256, shape, dtype=np.uint8)
    return mask


def synthetic_keypoints(photos: int, copies: float, seed: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """(packed keypoints per record, (n, 2) sizes, the record each copies or -1)."""
    rng = np.random.default_rng(seed)
    pool = _pool()
    descriptors = pool[rng.integers(0, len(pool), (photos, KEYPOINTS_KEPT))] ^ _noise(
        rng, (photos, KEYPOINTS_KEPT, DESCRIPTOR_BYTES), 5
    )
    places = rng.random((photos, KEYPOINTS_KEPT, 2))
    sizes = np.stack([rng.choice([4032, 3024, 1920], photos), rng.choice([3024, 2268, 1080], photos)], axis=1)
    source = np.where(rng.random(photos) < copies, rng.integers(0, photos, photos), -1)
    source[source >= np.arange(photos)] = -1  # a copy comes after its source
    for k in np.flatnonzero(source >= 0):
        s = source[k]
        side = np.sqrt(rng.uniform(0.5, 0.9))
        low = rng.uniform(0, 1 - side, 2)
        inside = np.all((places[s] >= low) & (places[s] <= low + side), axis=1)
        kept = np.flatnonzero(inside)
        descriptors[k, : len(kept)] = descriptors[s, kept] ^ _noise(rng, (len(kept), DESCRIPTOR_BYTES), 6)
        places[k, : len(kept)] = (places[s, kept] - low) / side
        sizes[k] = np.round(sizes[s] * side)
    shares = np.clip(np.round(places * SHARE), 0, SHARE).astype("<u2").view(np.uint8).reshape(photos, -1, 4)
    packed = [np.concatenate([d, p], axis=1).tobytes() for d, p in zip(descriptors, shares)]
    return packed, sizes, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--copies", type=float, default=0.05, help="share of records that are edited copies")
    parser.add_argument("--min-agreeing", type=int, default=5, help="dedup.keypoint_matches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    packed, sizes, source = synthetic_keypoints(args.photos, args.copies, args.seed)
    started = time.perf_counter()
    pairs = keypoint_pairs(packed, sizes, args.min_agreeing, tasks=LocalTasks(), seed=args.seed)
    seconds = time.perf_counter() - started
    found = {(int(i), int(j)) for i, j, _ in pairs}
    copied = np.flatnonzero(source >= 0)
    planted = sum((int(source[k]), int(k)) in found for k in copied)
    print(
        json.dumps(
            {
                "photos": args.photos,
                "keypoints": args.photos * KEYPOINTS_KEPT,
                "planted_copies": len(copied),
                "planted_copies_paired": planted,
                "recall": round(planted / max(1, len(copied)), 4),
                "candidate_pairs": len(pairs),
                "pairs_per_photo": round(len(pairs) / args.photos, 3),
                "seconds": round(seconds, 1),
                "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
