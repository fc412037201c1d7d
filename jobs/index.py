"""`facepipe index`: build or update the FAISS index over the faces of a set of tables."""

from __future__ import annotations

import argparse
import json

from jobs.library_run import library_run
from pipeline.config import load_config
from pipeline.io import store
from pipeline.search.face_index import update_face_index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", required=True, help="folder or s3:// prefix of the embed job's tables")
    parser.add_argument("--output", help="folder or s3:// prefix of the index (default: TABLES/index)")
    parser.add_argument("--rebuild", action="store_true", help="build from scratch even when an update would do")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    with library_run(args.tables, args.command, config) as run, run.step("index") as counts:
        update = update_face_index(
            args.tables, args.output or store.join(args.tables, "index"), config, rebuild=args.rebuild
        )
        counts.update(update.as_dict())
    print(json.dumps(update.as_dict()))
    return 0
