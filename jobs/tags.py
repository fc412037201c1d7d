"""`facepipe tags add | remove | rename | suggest`: name faces from a tag file, take tags back, rename a person,
suggest names for the untagged faces."""

from __future__ import annotations

import argparse
import json

from jobs.library_run import current_user, library_run
from pipeline.config import load_config
from pipeline.tags.suggest_job import run_suggest
from pipeline.tags.tag_file import TagFileError, add_tag_file
from pipeline.tags.tags_table import remove_tags, rename_tags


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="tag faces from a CSV or Parquet file")
    add.add_argument("--tables", required=True, help="folder or s3:// prefix of the embed job's tables")
    add.add_argument(
        "--tags",
        required=True,
        help="CSV or Parquet: name, and face_id, or uri (+ x1,y1,x2,y2 or bbox); optional verdict "
        "(tag, accepted, rejected)",
    )
    add.add_argument("--tagged-by", help="who tagged (default: the current user)")
    remove = actions.add_parser("remove", parents=[common], help="remove the tags of faces, or of a name")
    remove.add_argument("--tables", required=True, help="folder or s3:// prefix of the tables")
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--face-id", dest="face_ids", nargs="+", action="extend", metavar="ID", help="these faces")
    which.add_argument("--name", help="every tag and rejection of this name")
    rename = actions.add_parser("rename", parents=[common], help="rename a name everywhere (may merge two)")
    rename.add_argument("--tables", required=True, help="folder or s3:// prefix of the tables")
    rename.add_argument("--from", dest="old", required=True, help="the name to rename")
    rename.add_argument("--to", dest="new", required=True, help="its new name (may exist already)")
    suggest = actions.add_parser("suggest", parents=[common], help="suggest names for the untagged faces")
    suggest.add_argument("--tables", required=True, help="folder or s3:// prefix of the tables")
    suggest.add_argument("--full", action="store_true", help="issue every suggestion anew (new run_id)")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    storage = config.resolved_storage()
    with library_run(args.tables, args.command, config) as run, run.step(f"tags {args.action}") as counts:
        if args.action == "suggest":
            result = run_suggest(args.tables, config, args.full)
        elif args.action == "add":
            try:
                result = add_tag_file(args.tables, args.tags, storage, tagged_by=args.tagged_by or current_user())
            except TagFileError as exc:  # the JSON for scripts; the CLI prints the message and exits 2
                problems = [{"line": line, "problem": what} for line, what in exc.problems]
                print(json.dumps({"source": exc.source, "written": False, "problems": problems}))
                raise
            run.exit_code = 1 if result["refused"] else 0  # some rows were reported, not written
        elif args.action == "remove":
            result = remove_tags(args.tables, storage, face_ids=args.face_ids, name=args.name)
        else:
            result = rename_tags(args.tables, args.old, args.new, storage)
        counts.update(result)
    print(json.dumps(result, default=str))
    return run.exit_code
