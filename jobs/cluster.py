"""`facepipe cluster`: group the faces of a set of tables into people (clusters and persons tables)."""

from __future__ import annotations

import argparse
import json

from jobs.library_run import library_run
from pipeline.config import load_config
from pipeline.people.cluster_job import run_cluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", required=True, help="folder or s3:// prefix of the embed job's tables")
    parser.add_argument(
        "--method", choices=["graph", "hdbscan", "kmeans"], help="shorthand for --set cluster.method=..."
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="only place faces added since the last run; earlier clusters keep their ids and faces",
    )


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, [*args.set, *([f"cluster.method={args.method}"] if args.method else [])])
    with library_run(args.tables, args.command, config) as run, run.step("cluster") as counts:
        summary = run_cluster(args.tables, config, incremental=args.incremental)
        counts.update(summary)
    print(json.dumps(summary))
    return 0
