"""`facepipe train`: train or fine-tune the embedder (triplet or contrastive loss) on Ray Train."""

from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.train.train_job import run_training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        required=True,
        help="folder or s3:// prefix for checkpoints, metrics, triplets and the model pack (a rerun with the same "
        "output resumes; on several nodes, a folder they all reach or s3://)",
    )


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    print(json.dumps(run_training(config, args.output)))
    return 0
