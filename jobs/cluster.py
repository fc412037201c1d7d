"""`facepipe cluster`: group the faces of a library into people, its clusters and persons tables (pipeline.cluster)."""

from __future__ import annotations

import argparse

from jobs.options import add_changed_only, add_tables
from pipeline.config import load_config
from pipeline.people.cluster_job import cluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tables(parser)
    parser.add_argument(
        "--method", choices=["graph", "hdbscan", "kmeans"], help="shorthand for --set cluster.method=..."
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="only place faces added since the last run; earlier clusters keep their ids and faces",
    )
    add_changed_only(parser)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, [*args.set, *([f"cluster.method={args.method}"] if args.method else [])])
    print(cluster(args.tables, config, incremental=args.incremental, changed_only=args.changed_only).to_json())
    return 0
