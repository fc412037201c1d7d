"""`facepipe report`: a static HTML gallery of the people found by `facepipe cluster`."""

from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.people.report import write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", required=True, help="folder or s3:// prefix of clustered tables")
    parser.add_argument("--output", required=True, help="folder (or s3:// prefix) for index.html and thumbs/")
    parser.add_argument("--max-people", type=int, default=200, help="the largest this many people are shown")


def main(args: argparse.Namespace) -> int:
    print(json.dumps(write_report(args.tables, args.output, load_config(args.config, args.set), args.max_people)))
    return 0
