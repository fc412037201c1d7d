"""`facepipe tags add | remove | rename | suggest`: name faces from a tag file, take tags back, rename a person
(pipeline.add_tags, remove_tags, rename_tags), suggest names for the untagged faces (pipeline.suggest_tags)."""

from __future__ import annotations

import argparse
import json

from jobs.options import add_changed_only, add_tables
from pipeline.config import load_config
from pipeline.tags.suggest_job import suggest_tags
from pipeline.tags.tag_file import TagFileError
from pipeline.tags.tags_job import add_tags, remove_tags, rename_tags


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="tag faces from a CSV or Parquet file")
    add_tables(add)
    add.add_argument(
        "--tags",
        required=True,
        help="CSV or Parquet: name, and face_id, or uri (+ x1,y1,x2,y2 or bbox); optional verdict "
        "(tag, accepted, rejected)",
    )
    add.add_argument("--tagged-by", help="who tagged (default: the current user)")
    add.add_argument("--library", metavar="L", help="the library the tags are made in: faces of others are refused")
    remove = actions.add_parser("remove", parents=[common], help="remove the tags of faces, or of a name")
    add_tables(remove)
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--face-id", dest="face_ids", nargs="+", action="extend", metavar="ID", help="these faces")
    which.add_argument("--name", help="every tag and rejection of this name")
    remove.add_argument("--library", metavar="L", help="of this library's faces only (a store of several: needed)")
    rename = actions.add_parser("rename", parents=[common], help="rename a name everywhere (may merge two)")
    add_tables(rename)
    rename.add_argument("--from", dest="old", required=True, help="the name to rename")
    rename.add_argument("--to", dest="new", required=True, help="its new name (may exist already)")
    rename.add_argument("--library", metavar="L", help="in this library only (a store of several: needed)")
    suggest = actions.add_parser("suggest", parents=[common], help="suggest names for the untagged faces")
    add_tables(suggest)
    suggest.add_argument("--full", action="store_true", help="issue every suggestion anew (new run_id)")
    add_changed_only(suggest)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    if args.action == "suggest":
        result = suggest_tags(args.tables, config, full=args.full, changed_only=args.changed_only)
    elif args.action == "add":
        try:
            result = add_tags(args.tables, args.tags, config, tagged_by=args.tagged_by, library=args.library)
        except TagFileError as exc:  # the JSON for scripts; the CLI prints the message and exits 2
            problems = [{"line": line, "problem": what} for line, what in exc.problems]
            print(json.dumps({"source": exc.source, "written": False, "problems": problems}))
            raise
    elif args.action == "remove":
        result = remove_tags(args.tables, config, face_ids=args.face_ids, name=args.name, library=args.library)
    else:
        result = rename_tags(args.tables, args.old, args.new, config, library=args.library)
    print(result.to_json())
    return result.exit_code
