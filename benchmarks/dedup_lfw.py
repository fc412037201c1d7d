"""Duplicate finding on LFW with known copies: facepipe's dedup against the perceptual-hash baselines.

    python -m benchmarks.dedup_lfw --output FOLDER [--library LIBRARY] [--lfw ../shared/datasets/lfw]
        [--copies 300] [--seed 0] [--no-face 150] [--limit N] [--cpus 2] [--config FILE] [--set SECTION.KEY=VALUE]

Builds the library of benchmarks.dedup_library at FOLDER (or uses LIBRARY, or the one FOLDER already
holds: a truth.csv there is reused), embeds it into FOLDER/tables on a fresh local Ray with --cpus CPUs
(or the cluster ray.address names), runs `facepipe dedup` on those tables, scores the duplicates
table against the truth (pipeline.evaluate.dedup), and scores benchmarks.dedup_baseline's pHash and
dHash groups at thresholds 4 and 10 on the same photos. Prints one JSON object: the library's counts,
facepipe's metrics and seconds, each baseline's metrics and seconds, and the headline figures side by
side (``side_by_side``, ``recall_by_kind``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

from benchmarks.app_copies import APP_KINDS
from benchmarks.dedup_baseline import run_baselines
from benchmarks.dedup_library import COPY_KINDS, add_arguments, build_from_arguments
from pipeline.config import Config, load_config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.evaluate.dedup import DedupTruth, evaluate_dedup, read_dedup_truth
from pipeline.ingest.embed_job import embed
from pipeline.metrics.dedup import ORIGINAL

log = logging.getLogger(__name__)


def _start_ray(config: Config, cpus: int) -> None:
    """The configured Ray cluster, or a fresh local one with ``cpus`` CPUs."""
    import ray

    from pipeline.runtime.ray_cluster import connect

    if config.ray.address:
        connect(config.ray)
    else:
        ray.init(address="local", num_cpus=cpus, log_to_driver=False)


def _library_counts(truth: DedupTruth) -> dict:
    kinds = Counter(truth.kinds.values())
    return {
        "photos": len(truth.kinds),
        "originals": kinds[ORIGINAL],
        "copies": len(truth.kinds) - kinds[ORIGINAL],
        "originals_without_faces": sum(k == ORIGINAL and not truth.faces[u] for u, k in truth.kinds.items()),
        "copies_by_kind": {kind: n for kind, n in sorted(kinds.items()) if kind != ORIGINAL},
    }


def _rounded(value):
    """``value`` with every float rounded to 4 decimals (nested dicts and lists too)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def side_by_side(methods: dict[str, dict]) -> dict:
    """The headline figures of each method's metrics (``methods``: name -> evaluate_dedup's dict), and
    the recall per copy kind, method by method."""
    headline = {
        name: {
            "pairwise_precision": m["pairwise_precision"],
            "pairwise_recall": m["pairwise_recall"],
            "pairwise_f": m["pairwise_f"],
            "different_photos_grouped": m["different_photos_grouped"]["pairs"],
            "different_originals_grouped": m["different_photos_grouped"]["originals"],
            "of_them_same_person": m["different_photos_grouped"]["same_person"],
            "keeper_right": m["keeper_right"],
            "recall_photos_with_faces": m["by_faces"]["yes"]["pairwise_recall"],
            "recall_photos_without_faces": m["by_faces"]["no"]["pairwise_recall"],
        }
        for name, m in methods.items()
    }
    kinds = [*COPY_KINDS, *APP_KINDS]
    by_kind = {kind: {name: m["recall_by_kind"].get(kind) for name, m in methods.items()} for kind in kinds}
    without_faces = {
        kind: {name: m["by_faces"]["no"]["recall_by_kind"].get(kind) for name, m in methods.items()} for kind in kinds
    }
    return {"side_by_side": headline, "recall_by_kind": by_kind, "recall_by_kind_without_faces": without_faces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", required=True, type=Path, help="folder for the library (unless --library) and tables/"
    )
    parser.add_argument("--library", type=Path, help="a library benchmarks.dedup_library built (photos/, truth.csv)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--config", help="YAML config file (layered over the built-in defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    config = load_config(args.config, args.set)
    library = args.library or args.output
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    if not (library / "truth.csv").exists():
        library.mkdir(parents=True, exist_ok=True)
        build_from_arguments(args, library)
        seconds["library"] = time.perf_counter() - started
    else:
        log.info("using the library at %s", library)
    truth_csv = str(library / "truth.csv")
    truth = read_dedup_truth(truth_csv)

    tables = str(args.output / "tables")
    _start_ray(config, args.cpus)
    started = time.perf_counter()
    embedded = embed(str((library / "photos").absolute()), tables, config)
    seconds["embed"] = time.perf_counter() - started
    started = time.perf_counter()
    deduplicated = deduplicate(tables, config, full=True)
    seconds["dedup"] = time.perf_counter() - started
    facepipe = evaluate_dedup(tables, truth_csv, config)

    started = time.perf_counter()
    baselines = run_baselines(truth)
    seconds["baselines"] = time.perf_counter() - started

    figures = {
        "library": {"path": str(library), **_library_counts(truth)},
        **side_by_side({"facepipe": facepipe, **baselines}),
        "facepipe": {**facepipe, "embed": embedded.as_dict(), "dedup_run": deduplicated.as_dict()},
        "baselines": baselines,
        "seconds": seconds,
    }
    print(json.dumps(_rounded(figures), default=str))


if __name__ == "__main__":
    main()
