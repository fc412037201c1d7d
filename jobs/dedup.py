"""`facepipe dedup`: find copies of photos (pipeline.dedup); `dedup apply` moves the duplicates to a
quarantine (pipeline.apply_duplicates), `dedup undo` puts them back (pipeline.undo_apply), `dedup review`
writes a page to check them (pipeline.review_duplicates)."""

from __future__ import annotations

import argparse

from jobs.options import add_changed_only, add_tables
from pipeline.config import load_config
from pipeline.dedup.apply import apply_duplicates, undo_apply
from pipeline.dedup.dedup_job import deduplicate
from pipeline.dedup.review import review_duplicates


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", metavar="DST", help="folder or s3:// prefix of the library's tables")
    parser.add_argument("--full", action="store_true", help="compare every photo again, not only the new ones")
    add_changed_only(parser)
    actions = parser.add_subparsers(dest="action")
    apply = actions.add_parser("apply", parents=[common], help="move the duplicates (never a keeper) to a quarantine")
    add_tables(apply)
    apply.add_argument("--move-to", required=True, help="quarantine folder or s3:// prefix")
    apply.add_argument("--dry-run", action="store_true", help="say what would move, move nothing")
    apply.add_argument(
        "--include-edits",
        action="store_true",
        help="also move edited copies (crops, captions, screenshots, filters, ...): kept by default",
    )
    apply.add_argument("--library", metavar="L", help="this library's duplicates only (a store of several: needed)")
    undo = actions.add_parser("undo", parents=[common], help="put the photos of an apply manifest back")
    undo.add_argument("manifest", help="the manifest `dedup apply` wrote")
    review = actions.add_parser("review", parents=[common], help="a static page of the groups to check them")
    add_tables(review)
    review.add_argument("--output", required=True, help="folder for index.html and its thumbnails")
    review.add_argument("--max-groups", type=int, default=500, help="show this many groups at most")
    review.add_argument("--library", metavar="L", help="the groups of this library (a store of several: needed)")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    if args.action == "apply":
        result = apply_duplicates(
            args.tables,
            args.move_to,
            config,
            dry_run=args.dry_run,
            include_edits=args.include_edits,
            library=args.library,
        )
    elif args.action == "undo":
        result = undo_apply(args.manifest, config)
    elif args.action == "review":
        result = review_duplicates(args.tables, args.output, config, max_groups=args.max_groups, library=args.library)
    elif args.tables:
        result = deduplicate(args.tables, config, full=args.full, changed_only=args.changed_only)
    else:
        raise SystemExit("facepipe dedup: --tables is required")
    print(result.to_json())
    return 0
