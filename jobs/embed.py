"""`facepipe embed`: photos in SRC -> images and faces tables at DST."""

from __future__ import annotations

import argparse

from jobs.library_run import library_run
from pipeline.config import load_config
from pipeline.ingest.embed_job import run_embed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="folder or s3:// prefix of photos")
    parser.add_argument("--output", required=True, help="folder or s3:// prefix for the tables")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    with library_run(args.output, args.command, config) as run:
        with run.step("embed") as counts:
            summary = run_embed(args.input, args.output, config)
            counts.update(summary.as_dict(), **summary.status)
        run.versions["models"] = summary.models
        run.exit_code = 0 if summary.missing == 0 else 1
    print(summary.render())
    return run.exit_code
