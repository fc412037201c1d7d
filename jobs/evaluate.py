"""`facepipe eval lfw | identify | cluster | dedup | tags`: LFW verification (10-fold), open-set identification,
clustering quality against known identities, duplicate groups against known copies, suggested names against known
people."""

from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.evaluate.clusters import evaluate_clusters
from pipeline.evaluate.dedup import evaluate_dedup
from pipeline.evaluate.lfw import evaluate_lfw, evaluate_lfw_identification
from pipeline.evaluate.tags import evaluate_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "benchmark",
        choices=["lfw", "identify", "cluster", "dedup", "tags"],
        help="lfw: verification on the pairs; identify: open-set identification on LFW_DIR/images/<person>/; "
        "cluster: the clusters of --tables against --labels; dedup: the duplicates of --tables against --truth; "
        "tags: the suggestions of --tables against --truth",
    )
    parser.add_argument("--lfw-dir", help="LFW folder holding images/ and pairs.txt (lfw, identify)")
    parser.add_argument(
        "--tables", help="tables clustered by `facepipe cluster` (cluster), deduplicated (dedup) or tagged (tags)"
    )
    parser.add_argument("--labels", help="CSV with columns uri,person (cluster)")
    parser.add_argument(
        "--truth",
        help="CSV with columns uri,original,kind,person,faces (dedup) or uri,person (tags: the photos' main faces)",
    )
    parser.add_argument("--pairs", help="pairs file (default: LFW_DIR/pairs.txt, the 10-fold View 2 protocol)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the galleries and strangers drawn (identify)")
    parser.add_argument("--draws", type=int, default=10, help="galleries drawn per size (identify)")
    parser.add_argument("--output", default="lfw-eval", help="folder for tables, plots and metrics.json")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    if args.benchmark == "cluster":
        if not (args.tables and args.labels):
            raise ConfigError("eval cluster needs --tables and --labels")
        print(json.dumps(evaluate_clusters(args.tables, args.labels, config)))
        return 0
    if args.benchmark == "dedup":
        if not (args.tables and args.truth):
            raise ConfigError("eval dedup needs --tables and --truth")
        print(json.dumps(evaluate_dedup(args.tables, args.truth, config)))
        return 0
    if args.benchmark == "tags":
        if not (args.tables and args.truth):
            raise ConfigError("eval tags needs --tables and --truth")
        print(json.dumps(evaluate_tags(args.tables, args.truth, config)))
        return 0
    if not args.lfw_dir:
        raise ConfigError(f"eval {args.benchmark} needs --lfw-dir")
    if args.benchmark == "identify":
        metrics = evaluate_lfw_identification(args.lfw_dir, args.output, config, args.seed, args.draws)
    else:
        metrics = evaluate_lfw(args.lfw_dir, args.output, config, pairs_file=args.pairs)
    print(json.dumps(metrics))
    return 0
