"""`facepipe circles set | remove`: libraries whose owners share people, names and duplicates
(pipeline.set_circle, remove_from_circle)."""

from __future__ import annotations

import argparse

from jobs.options import add_tables
from pipeline.config import load_config
from pipeline.io.circles import remove_from_circle, set_circle


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    put = actions.add_parser("set", parents=[common], help="make a circle of exactly these libraries")
    add_tables(put, help="folder or s3:// prefix of the store's tables")
    put.add_argument("--circle", required=True, metavar="C", help="the circle's id")
    put.add_argument("--libraries", required=True, nargs="+", metavar="L", help="its libraries (two or more)")
    remove = actions.add_parser("remove", parents=[common], help="take libraries out of a circle, or remove it")
    add_tables(remove, help="folder or s3:// prefix of the store's tables")
    remove.add_argument("--circle", required=True, metavar="C", help="the circle")
    remove.add_argument("--libraries", nargs="+", metavar="L", help="these libraries only (default: all: no circle)")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    if args.action == "set":
        result = set_circle(args.tables, args.circle, args.libraries, config)
    else:
        result = remove_from_circle(args.tables, args.circle, args.libraries, config)
    print(result.to_json())
    return result.exit_code
