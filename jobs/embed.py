"""`facepipe embed`: photos in SRC -> images and faces tables of the library at DST (pipeline.embed)."""

from __future__ import annotations

import argparse
import sys

from jobs.options import add_libraries, add_tables
from pipeline.config import load_config
from pipeline.ingest.embed_job import embed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="SRC", help="folder or s3:// prefix of photos")
    add_tables(parser, deprecated="--output")
    add_libraries(parser)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    result = embed(args.input, args.tables, config, library=args.library, libraries_by_folder=args.libraries_by_folder)
    print(result.render(), file=sys.stderr)
    print(result.to_json())
    return result.exit_code
