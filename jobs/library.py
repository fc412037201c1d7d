"""`facepipe library set`: a library's own settings: faces off (its face data erased, none computed from then on)
or on again (pipeline.set_library_faces)."""

from __future__ import annotations

import argparse

from jobs.options import add_tables
from pipeline.config import load_config
from pipeline.erasure.opt_out import set_library_faces


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    put = actions.add_parser("set", parents=[common], help="set a library's settings")
    add_tables(put, help="folder or s3:// prefix of the store's tables")
    put.add_argument("--library", required=True, metavar="L", help="the library")
    put.add_argument(
        "--faces",
        required=True,
        choices=["on", "off"],
        help="off: erase its face data and compute none from then on (its photos keep their dedup fingerprints); "
        "on: compute its faces again at the next run",
    )


def main(args: argparse.Namespace) -> int:
    result = set_library_faces(args.tables, args.library, args.faces == "on", load_config(args.config, args.set))
    print(result.to_json())
    return result.exit_code
