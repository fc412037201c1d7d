"""The `facepipe` command: maps verbs to job entry points."""
from __future__ import annotations

import argparse
import logging
import sys

from pipeline.config import ConfigError

from jobs import bench, embed, evaluate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facepipe", description="Face analysis over large photo collections.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (layered over the built-in defaults)")
    common.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    embed.add_arguments(verbs.add_parser("embed", parents=[common], help="detect, align and embed faces into tables"))
    evaluate.add_arguments(verbs.add_parser("eval", parents=[common], help="evaluate on a benchmark (lfw)"))
    bench.add_arguments(verbs.add_parser("bench", parents=[common], help="measure the embed pipeline's throughput"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    jobs = {"embed": embed.main, "eval": evaluate.main, "bench": bench.main}
    try:
        return jobs[args.verb](args)
    except ConfigError as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
