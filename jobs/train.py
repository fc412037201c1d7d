"""`facepipe train`: train or fine-tune the embedder (triplet or contrastive loss) on Ray Train."""

from __future__ import annotations

import argparse

from pipeline.config import load_config
from pipeline.train.train_job import train_embedder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        required=True,
        help="folder or s3:// prefix for checkpoints, metrics, triplets and the model pack (a rerun with the same "
        "output resumes; on several nodes, a folder they all reach or s3://)",
    )


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    print(train_embedder(args.output, config).to_json())
    return 0
