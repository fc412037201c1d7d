"""The `facepipe` command: maps verbs to job entry points."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NamedTuple

from tqdm.contrib.logging import logging_redirect_tqdm

from pipeline.errors import ConfigError
from pipeline.io.fence import LeaseLost
from pipeline.io.lease import LeaseHeld
from pipeline.io.library_run import invoked_as
from pipeline.progress import shown


class Verb(NamedTuple):
    """A verb: the job module that runs it, its argument and entry functions there, its help."""

    module: str
    add: str
    main: str
    help: str
    nested: bool = False  # the verb has verbs of its own, which take the common options too


VERBS = {
    "embed": Verb("jobs.embed", "add_arguments", "main", "detect, align and embed faces into tables"),
    "eval": Verb(
        "jobs.evaluate",
        "add_arguments",
        "main",
        "evaluate: lfw (verification), identify (open set), cluster (against labels)",
    ),
    "bench": Verb("jobs.bench", "add_arguments", "main", "measure the embed pipeline's throughput"),
    "index": Verb("jobs.index", "add_arguments", "main", "build or update the FAISS index of a set of tables"),
    "search": Verb("jobs.search", "add_arguments", "main", "nearest indexed faces of the faces in a photo"),
    "cluster": Verb("jobs.cluster", "add_arguments", "main", "group the faces of a set of tables into people"),
    "dedup": Verb("jobs.dedup", "add_arguments", "main", "find duplicate photos; apply, undo, review", nested=True),
    "tags": Verb(
        "jobs.tags",
        "add_arguments",
        "main",
        "name faces: add from a file, remove, rename; suggest names for the rest",
        nested=True,
    ),
    "circles": Verb(
        "jobs.circles", "add_arguments", "main", "share people, names and duplicates between libraries", nested=True
    ),
    "forget": Verb(
        "jobs.forget", "add_arguments", "main", "erase a library, photos or a person everywhere; keep them forgotten"
    ),
    "library": Verb("jobs.library", "add_arguments", "main", "a library's settings: faces off or on", nested=True),
    "report": Verb("jobs.report", "add_arguments", "main", "a static HTML gallery of the people found"),
    "audit": Verb(
        "jobs.audit",
        "add_arguments",
        "main",
        "which files under DST still hold a library's, photos' or embeddings' data",
    ),
    "nightly": Verb(
        "jobs.nightly", "add_arguments", "main", "the scheduled run: embed, index, cluster, dedup, suggest, report"
    ),
    "train": Verb("jobs.train", "add_arguments", "main", "train or fine-tune the embedder (triplet loss, Ray Train)"),
    "calibrate": Verb(
        "jobs.recognize",
        "add_calibrate_arguments",
        "calibrate_main",
        "FAR curve and thresholds of the configured model on labelled photos",
    ),
    "verify": Verb("jobs.recognize", "add_verify_arguments", "verify_main", "are two photos the same person (1:1)"),
    "enroll": Verb(
        "jobs.recognize", "add_enroll_arguments", "enroll_main", "add a person to a gallery from one or more photos"
    ),
    "unenroll": Verb("jobs.recognize", "add_unenroll_arguments", "unenroll_main", "remove a person from a gallery"),
    "identify": Verb(
        "jobs.recognize", "add_identify_arguments", "identify_main", "who is in these photos (1:N, or not recognised)"
    ),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: every verb listed, only the verb named in ``argv`` given its arguments,
    so that only its job module is imported (each imports what its job needs: Ray, torch, FAISS,
    seconds that a run of another verb should not pay)."""
    parser = argparse.ArgumentParser(prog="facepipe", description="Face analysis over large photo collections.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (layered over the built-in defaults)")
    common.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars and no log lines below warnings (errors still show)",
    )
    named = argv[0] if argv else None  # the verb comes first: the top level has no options but --help
    for name, verb in VERBS.items():
        sub = verbs.add_parser(name, parents=[common], help=verb.help)
        if name == named:
            add = getattr(importlib.import_module(verb.module), verb.add)
            if verb.nested:
                add(sub, common)
            else:
                add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    verb = VERBS[args.verb]
    run = getattr(importlib.import_module(verb.module), verb.main)
    try:
        # log lines print above the progress bars instead of through them
        with invoked_as(["facepipe", *argv]), shown(False if args.quiet else None), logging_redirect_tqdm():
            return run(args)
    except ConfigError as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 2
    except LeaseHeld as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 3
    except LeaseLost as exc:
        print(f"facepipe {args.verb}: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
