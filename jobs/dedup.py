"""`facepipe dedup`: find copies of photos (duplicates and similar tables); `dedup apply` moves the
duplicates to a quarantine, `dedup undo` puts them back, `dedup review` writes a page to check them."""

from __future__ import annotations

import argparse
import json

from jobs.library_run import library_run
from pipeline.config import load_config
from pipeline.dedup.apply import apply_duplicates, undo_apply
from pipeline.dedup.dedup_job import run_dedup
from pipeline.dedup.review import write_dedup_review


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", help="folder or s3:// prefix of the embed job's tables")
    parser.add_argument("--full", action="store_true", help="compare every photo again, not only the new ones")
    actions = parser.add_subparsers(dest="action")
    apply = actions.add_parser("apply", parents=[common], help="move the duplicates (never a keeper) to a quarantine")
    apply.add_argument("--tables", required=True, help="tables holding the duplicates table")
    apply.add_argument("--move-to", required=True, help="quarantine folder or s3:// prefix")
    apply.add_argument("--dry-run", action="store_true", help="say what would move, move nothing")
    undo = actions.add_parser("undo", parents=[common], help="put the photos of an apply manifest back")
    undo.add_argument("manifest", help="the manifest `dedup apply` wrote")
    review = actions.add_parser("review", parents=[common], help="a static page of the groups to check them")
    review.add_argument("--tables", required=True, help="tables holding the duplicates table")
    review.add_argument("--output", required=True, help="folder for index.html and its thumbnails")
    review.add_argument("--max-groups", type=int, default=500, help="show this many groups at most")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    if args.action == "apply" and args.dry_run:  # writes nothing
        result = apply_duplicates(args.tables, args.move_to, config, dry_run=True)
    elif args.action == "apply":  # moves photos out of the library the tables describe: holds them meanwhile
        with library_run(args.tables, args.command, config) as run, run.step("dedup apply") as counts:
            result = apply_duplicates(args.tables, args.move_to, config)
            counts.update(result)
    elif args.action == "undo":
        result = undo_apply(args.manifest, config)
    elif args.action == "review":
        result = write_dedup_review(args.tables, args.output, config, args.max_groups)
    elif args.tables:
        with library_run(args.tables, args.command, config) as run, run.step("dedup") as counts:
            result = run_dedup(args.tables, config, full=args.full)
            counts.update(result)
    else:
        raise SystemExit("facepipe dedup: --tables is required")
    print(json.dumps(result, default=str))
    return 0
