"""`facepipe nightly`: the scheduled run over a library (pipeline.nightly): embed, index, cluster, dedup,
suggest, report, each step only when its inputs changed; one run, one lease, one runs row.

Exit codes: 0 done, 1 photos went missing (the next run picks them up), 2 a configuration mistake,
3 another run holds the library.
"""

from __future__ import annotations

import argparse

from jobs.options import add_libraries, add_tables
from pipeline.config import load_config
from pipeline.nightly_job import nightly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="SRC", help="folder or s3:// prefix of photos")
    add_tables(parser, deprecated="--output")
    parser.add_argument(
        "--full", action="store_true", help="every step from scratch: recluster, compare every photo, rebuild"
    )
    add_libraries(parser)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    result = nightly(
        args.input,
        args.tables,
        config,
        full=args.full,
        library=args.library,
        libraries_by_folder=args.libraries_by_folder,
    )
    print(result.to_json())
    return result.exit_code
