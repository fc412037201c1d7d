"""`facepipe eval lfw | identify`: LFW verification (10-fold) and open-set identification figures of the
configured models through the embed pipeline."""
from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.graph import connect
from pipeline.lfw_eval import evaluate_lfw, evaluate_lfw_identification


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", choices=["lfw", "identify"],
                        help="lfw: verification on the pairs; identify: open-set identification on all LFW photos")
    parser.add_argument("--lfw-dir", required=True, help="LFW folder holding images/ and pairs.txt")
    parser.add_argument("--pairs", help="pairs file (default: LFW_DIR/pairs.txt, the 10-fold View 2 protocol)")
    parser.add_argument("--output", default="lfw-eval", help="folder for tables, plots and metrics.json")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    connect(config.ray)
    if args.benchmark == "identify":
        metrics = evaluate_lfw_identification(args.lfw_dir, args.output, config)
    else:
        metrics = evaluate_lfw(args.lfw_dir, args.output, config, pairs_file=args.pairs)
    print(json.dumps(metrics))
    return 0
