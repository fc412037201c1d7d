"""`facepipe forget`: erase a library, photos or a named person everywhere facepipe wrote them, and keep them
forgotten (pipeline.forget); `--lift` adds them back (pipeline.lift_forgotten)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs.options import add_tables
from pipeline.config import load_config
from pipeline.erasure.forget import forget, lift_forgotten


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tables(parser, help="folder or s3:// prefix of the store's tables")
    parser.add_argument("--library", metavar="L", help="every photo of this library (with --name: its person only)")
    uris = parser.add_mutually_exclusive_group()
    uris.add_argument("--uri", dest="uris", nargs="+", metavar="URI", help="these photos")
    uris.add_argument("--uris", dest="uris_file", metavar="FILE", help="the photos listed in FILE, one uri a line")
    parser.add_argument("--name", help="with --library: every face of the library tagged, accepted or suggested so")
    parser.add_argument(
        "--lift", action="store_true", help="add back what was forgotten (--library L or --uri): the next run embeds it"
    )


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    uris = args.uris
    if args.uris_file:
        uris = [line.strip() for line in Path(args.uris_file).read_text().splitlines() if line.strip()]
    if args.lift:
        result = lift_forgotten(args.tables, config, library=args.library, uris=uris)
    else:
        result = forget(args.tables, config, library=args.library, uris=uris, name=args.name)
    print(result.to_json())
    return result.exit_code
