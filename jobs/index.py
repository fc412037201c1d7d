"""`facepipe index`: build or update the FAISS index of a library's faces (pipeline.index)."""

from __future__ import annotations

import argparse

from jobs.options import add_tables
from pipeline.config import load_config
from pipeline.search.face_index import index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tables(parser)
    parser.add_argument(
        "--output", metavar="IDX", help="folder or s3:// prefix of the index (default: DST/index, DST/index/L)"
    )
    parser.add_argument("--library", metavar="L", help="the faces of this library only (a store of several: needed)")
    parser.add_argument("--rebuild", action="store_true", help="build from scratch even when an update would do")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    result = index(args.tables, config, output=args.output, rebuild=args.rebuild, library=args.library)
    print(result.to_json())
    return 0
