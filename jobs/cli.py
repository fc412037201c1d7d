"""The `facepipe` command: maps verbs to job entry points."""

from __future__ import annotations

import argparse
import logging
import sys

from jobs import bench, cluster, dedup, embed, evaluate, index, nightly, recognize, report, search, tags, train
from pipeline.config import ConfigError
from pipeline.io.lease import LeaseHeld


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facepipe", description="Face analysis over large photo collections.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (layered over the built-in defaults)")
    common.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    embed.add_arguments(verbs.add_parser("embed", parents=[common], help="detect, align and embed faces into tables"))
    evaluate.add_arguments(
        verbs.add_parser(
            "eval", parents=[common], help="evaluate: lfw (verification), identify (open set), cluster (against labels)"
        )
    )
    bench.add_arguments(verbs.add_parser("bench", parents=[common], help="measure the embed pipeline's throughput"))
    index.add_arguments(
        verbs.add_parser("index", parents=[common], help="build or update the FAISS index of a set of tables")
    )
    search.add_arguments(
        verbs.add_parser("search", parents=[common], help="nearest indexed faces of the faces in a photo")
    )
    cluster.add_arguments(
        verbs.add_parser("cluster", parents=[common], help="group the faces of a set of tables into people")
    )
    dedup.add_arguments(
        verbs.add_parser("dedup", parents=[common], help="find duplicate photos; apply, undo, review"), common
    )
    tags.add_arguments(
        verbs.add_parser(
            "tags", parents=[common], help="name faces: add from a file, remove, rename; suggest names for the rest"
        ),
        common,
    )
    report.add_arguments(verbs.add_parser("report", parents=[common], help="a static HTML gallery of the people found"))
    nightly.add_arguments(
        verbs.add_parser(
            "nightly", parents=[common], help="the scheduled run: embed, index, cluster, dedup, suggest, report"
        )
    )
    train.add_arguments(
        verbs.add_parser("train", parents=[common], help="train or fine-tune the embedder (triplet loss, Ray Train)")
    )
    for verb, add, text in (
        (
            "calibrate",
            recognize.add_calibrate_arguments,
            "FAR curve and thresholds of the configured model on labelled photos",
        ),
        ("verify", recognize.add_verify_arguments, "are two photos the same person (1:1)"),
        ("enroll", recognize.add_enroll_arguments, "add a person to a gallery from one or more photos"),
        ("unenroll", recognize.add_unenroll_arguments, "remove a person from a gallery"),
        ("identify", recognize.add_identify_arguments, "who is in these photos (1:N, or not recognised)"),
    ):
        add(verbs.add_parser(verb, parents=[common], help=text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command = ["facepipe", *(sys.argv[1:] if argv is None else argv)]  # what the runs table records
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    jobs = {
        "embed": embed.main,
        "eval": evaluate.main,
        "bench": bench.main,
        "index": index.main,
        "search": search.main,
        "cluster": cluster.main,
        "dedup": dedup.main,
        "tags": tags.main,
        "report": report.main,
        "nightly": nightly.main,
        "train": train.main,
        "calibrate": recognize.calibrate_main,
        "verify": recognize.verify_main,
        "enroll": recognize.enroll_main,
        "unenroll": recognize.unenroll_main,
        "identify": recognize.identify_main,
    }
    try:
        return jobs[args.verb](args)
    except ConfigError as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 2
    except LeaseHeld as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
