"""Options several verbs share, spelled the same in every verb."""

from __future__ import annotations

import argparse
import sys

TABLES_HELP = "folder or s3:// prefix of the library's tables"


class _DeprecatedTables(argparse.Action):
    """An old spelling of --tables: accepted, with a warning naming the new one."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: {option_string} is deprecated for the library's tables; use --tables", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_tables(parser: argparse.ArgumentParser, *, deprecated: str | None = None, help: str = TABLES_HELP) -> None:
    """--tables DST (required); ``deprecated``: an old option name kept as an alias that warns."""
    if deprecated is None:
        parser.add_argument("--tables", required=True, metavar="DST", help=help)
        return
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--tables", metavar="DST", help=help)
    given.add_argument(deprecated, dest="tables", metavar="DST", action=_DeprecatedTables, help="deprecated: --tables")


def add_libraries(parser: argparse.ArgumentParser) -> None:
    """--library L or --libraries-by-folder: whose photos SRC holds (pipeline.ingest.libraries)."""
    whose = parser.add_mutually_exclusive_group()
    whose.add_argument("--library", metavar="L", help="the library SRC's photos belong to (default: 'default')")
    whose.add_argument(
        "--libraries-by-folder", action="store_true", help="each folder directly below SRC is a library named after it"
    )


def add_changed_only(parser: argparse.ArgumentParser) -> None:
    """--changed-only: a per-scope job computes only the scopes whose inputs changed since it last did."""
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="only the circles and libraries whose inputs changed since they were last computed (as the nightly)",
    )
