"""`facepipe cluster`: group the faces of a set of tables into people (clusters and persons tables)."""
from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.people import run_cluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", required=True, help="folder or s3:// prefix of the embed job's tables")
    parser.add_argument("--method", choices=["graph", "hdbscan", "kmeans"], help="shorthand for --set cluster.method=...")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, [*args.set, *([f"cluster.method={args.method}"] if args.method else [])])
    print(json.dumps(run_cluster(args.tables, config)))
    return 0
