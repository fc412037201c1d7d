"""`facepipe bench`: throughput of the embed pipeline on a photo set, as one JSON object."""

from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.ingest.bench import run_bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="folder or s3:// prefix of photos")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="shorthand for --set models.device=...")
    parser.add_argument(
        "--with-dlib", action="store_true", help="also run the dlib pack on the same photos (key 'dlib')"
    )


def main(args: argparse.Namespace) -> int:
    overrides = [*args.set, *([f"models.device={args.device}"] if args.device else [])]
    config = load_config(args.config, overrides)
    figures = run_bench(args.input, config)
    if args.with_dlib:
        dlib = load_config(
            args.config, [*overrides, "models.detector=dlib_hog", "models.embedder=dlib", "models.device=cpu"]
        )
        figures["dlib"] = {k: v for k, v in run_bench(args.input, dlib).items() if k != "config"}
    print(json.dumps(figures))
    return 0
