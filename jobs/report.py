"""`facepipe report`: a static HTML gallery of the people found by `facepipe cluster` (pipeline.report)."""

from __future__ import annotations

import argparse

from jobs.options import add_tables
from pipeline.config import load_config
from pipeline.people.report import report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tables(parser)
    parser.add_argument("--output", required=True, help="folder (or s3:// prefix) for index.html and thumbs/")
    parser.add_argument("--max-people", type=int, default=200, help="the largest this many people are shown")
    parser.add_argument("--library", metavar="L", help="what this library's owner may see (a store of several: needed)")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    print(report(args.tables, args.output, config, max_people=args.max_people, library=args.library).to_json())
    return 0
