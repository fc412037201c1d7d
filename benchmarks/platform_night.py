"""The platform's night at scale: many libraries of power-law sizes in one store, circles over a third of
them, the night's per-scope steps (cluster, dedup on synthetic fingerprints, tag suggestions) on a local
two-node Ray cluster; then a second night after a share of the libraries changed. Synthetic: embeddings and
fingerprints are written through the tables, no photo is read.

    python -m benchmarks.platform_night [--libraries 10000] [--faces 1000000] [--changed 0.01] [--seed 0]

Library sizes follow a Pareto law clipped to --smallest..--largest faces (one face a photo, people of 5
faces drawn by pipeline.evaluate.synthetic, 10% of photos copies as benchmarks.dedup_scale makes them, one
face of every second person tagged), scaled to about --faces in all. Circles of 2 to 6 libraries cover a
third of the libraries. Each night runs the three steps with changed_only (as `facepipe nightly` does).
Prints one JSON object: the store (libraries, faces, scopes, circles), per night each step's seconds,
scopes run / skipped / failed and the commits it made, the machine's peak memory above its idle level,
and the second night's scope work as a share of the first's.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.scope_overhead import synthetic_store
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.io.circles import set_circle
from pipeline.io.tables import TablesSnapshot
from pipeline.people.cluster_job import cluster
from pipeline.tags.suggest_job import suggest_tags

STEPS = {"cluster": cluster, "dedup": deduplicate, "tags": suggest_tags}
WRITTEN = {
    "cluster": (S.CLUSTERS_TABLE, S.PERSONS_TABLE),
    "dedup": (S.SIMILAR_TABLE, S.DUPLICATES_TABLE),
    "tags": (S.SUGGESTIONS_TABLE,),
}


def library_sizes(libraries: int, faces: int, smallest: int, largest: int, seed: int) -> list[int]:
    """Power-law library sizes (Pareto, shape 1.2) between ``smallest`` and ``largest``, summing to about
    ``faces``, each a multiple of 5 (whole people)."""
    rng = np.random.default_rng(seed)
    raw = np.sort(rng.pareto(1.2, libraries) + 1)
    scale = 1.0
    for _ in range(60):  # the scale at which the clipped sizes sum to ``faces``
        sizes = np.clip(raw * smallest * scale, smallest, largest)
        scale *= (faces / sizes.sum()) ** 0.7
    return [int(size // 5 * 5) for size in rng.permutation(sizes)]


def circles_over(libraries: list[str], share: float, seed: int) -> dict[str, list[str]]:
    """Circles of 2 to 6 libraries over ``share`` of ``libraries``."""
    rng = np.random.default_rng(seed + 1)
    chosen = list(rng.permutation(libraries)[: int(len(libraries) * share)])
    circles, k = {}, 0
    while len(chosen) >= 2:
        size = min(int(rng.integers(2, 7)), len(chosen))
        circles[f"circle{k:05d}"] = sorted(chosen[:size])
        chosen, k = chosen[size:], k + 1
    return circles


class PeakMemory:
    """The machine's peak memory in use above its level when started (MemAvailable, sampled every 0.5 s):
    the driver, the Ray workers and the object store together."""

    def __init__(self) -> None:
        self.idle = self.lowest = self._available()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _available() -> int:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no MemAvailable in /proc/meminfo")

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.lowest = min(self.lowest, self._available())

    def stop(self) -> float:
        """The peak, in GiB."""
        self._stop.set()
        self._thread.join()
        return round((self.idle - self.lowest) / 2**30, 2)


def versions(dst: str) -> dict[str, int]:
    snapshot = TablesSnapshot(dst)
    found = {name: snapshot.version(name) for names in WRITTEN.values() for name in names}
    return {name: -1 if version is None else version for name, version in found.items()}


def night(dst: str, config) -> dict:
    """The three per-scope steps as the nightly runs them, with their figures."""
    figures, memory = {}, PeakMemory()
    for step, job in STEPS.items():
        before = versions(dst)
        started = time.perf_counter()
        found = job(dst, config, changed_only=True)
        after = versions(dst)
        figures[step] = {
            "seconds": round(time.perf_counter() - started, 1),
            "scopes": found.scopes,
            "scopes_skipped": found.scopes_skipped,
            "scopes_failed": len(found.scopes_failed),
            "commits": sum(after[name] - before[name] for name in WRITTEN[step]),
        }
    figures["peak_memory_gib"] = memory.stop()
    figures["seconds"] = round(sum(figures[step]["seconds"] for step in STEPS), 1)
    return figures


def changed_libraries(dst: str, sizes: dict[str, int], share: float, seed: int) -> list[str]:
    """Add a few photos (a tenth of its size, at least 5) to ``share`` of the libraries, as an embed would."""
    rng = np.random.default_rng(seed + 2)
    chosen = sorted(rng.permutation(sorted(sizes))[: max(1, int(len(sizes) * share))])
    synthetic_store(dst, [max(5, sizes[name] // 50 * 5) for name in chosen], seed + 3, names=chosen, prefix="more")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", type=int, default=10_000)
    parser.add_argument("--faces", type=int, default=1_000_000, help="about this many faces in all")
    parser.add_argument("--smallest", type=int, default=20)
    parser.add_argument("--largest", type=int, default=50_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of libraries changed before night 2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False)
    distributed = ["cluster.distributed=true", "dedup.distributed=true", "tags.distributed=true"]
    config = load_config(None, ["dedup.exposure_residual=0", f"ray.address={nodes.address}", *distributed])
    sizes = library_sizes(args.libraries, args.faces, args.smallest, args.largest, args.seed)
    names = [f"owner{k:05d}" for k in range(args.libraries)]
    figures: dict = {"libraries": args.libraries, "nodes": 2, "cpus": 2}
    try:
        with tempfile.TemporaryDirectory(prefix="facepipe-platform-night-") as scratch:
            dst = str(Path(scratch) / "store")
            started = time.perf_counter()
            synthetic_store(dst, sizes, args.seed, names=names)
            circles = circles_over(names, 1 / 3, args.seed)
            for circle, members in circles.items():
                set_circle(dst, circle, members, config)
            in_circles = {name for members in circles.values() for name in members}
            figures["store"] = {
                "faces": int(sum(sizes)),
                "smallest": min(sizes),
                "largest": max(sizes),
                "median": int(np.median(sizes)),
                "circles": len(circles),
                "libraries_in_circles": len(in_circles),
                "scopes": len(circles) + args.libraries - len(in_circles),
                "written_seconds": round(time.perf_counter() - started, 1),
            }
            figures["night_1"] = night(dst, config)
            changed = changed_libraries(dst, dict(zip(names, sizes)), args.changed, args.seed)
            figures["changed_libraries"] = len(changed)
            figures["night_2"] = night(dst, config)
            figures["night_2_share_of_night_1"] = round(
                figures["night_2"]["seconds"] / figures["night_1"]["seconds"], 4
            )
    finally:
        ray.shutdown()
        nodes.shutdown()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
