"""`facepipe calibrate | verify | enroll | unenroll | identify`: FAR curves and thresholds, 1:1 and 1:N recognition."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from pipeline.config import load_config
from pipeline.evaluate.lfw import calibrate_on_all_pairs, calibrate_on_lfw
from pipeline.ingest.photo_faces import FaceReader
from pipeline.recognize.photos import enroll_photos, identify_photos, unenroll, verify_photos


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lfw-dir", required=True, help="LFW-format folder: images/<person>/ and a pairs file")
    parser.add_argument("--pairs", help="labelled pairs in LFW format (default: LFW_DIR/pairs.txt)")
    parser.add_argument("--far", type=float, default=1e-3, help="target false-accept rate (with a pairs file)")
    parser.add_argument(
        "--all-pairs",
        action="store_true",
        help="calibrate the FAR curve on every pair of photos of LFW_DIR/images (a photo's person: its folder)",
    )
    parser.add_argument("--output", default="calibration", help="folder for the embedded tables (reused by reruns)")


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photo_a")
    parser.add_argument("photo_b")


def add_enroll_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", required=True, help="folder or s3:// prefix of the gallery")
    parser.add_argument("--name", required=True, help="the person's name")
    parser.add_argument("--replace", action="store_true", help="drop the person's earlier photos first")
    parser.add_argument("photos", nargs="+", help="photos of the person (one is enough)")


def add_unenroll_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", required=True, help="folder or s3:// prefix of the gallery")
    parser.add_argument("--name", required=True, help="the person to remove")


def add_identify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", required=True, help="folder or s3:// prefix of the gallery")
    parser.add_argument("photos", nargs="+", help="photos whose faces to identify")


def calibrate_main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    command = shlex.join(["facepipe", *sys.argv[1:]])
    if args.all_pairs:
        print(json.dumps(calibrate_on_all_pairs(args.lfw_dir, args.output, config, command)))
    else:
        print(json.dumps(calibrate_on_lfw(args.lfw_dir, args.output, config, args.far, command, args.pairs)))
    return 0


def verify_main(args: argparse.Namespace) -> int:
    answer = verify_photos(args.photo_a, args.photo_b, load_config(args.config, args.set))
    print(json.dumps(answer))
    return 1 if "error" in answer else 0


def enroll_main(args: argparse.Namespace) -> int:
    print(
        json.dumps(
            enroll_photos(args.gallery, args.name, args.photos, load_config(args.config, args.set), args.replace)
        )
    )
    return 0


def unenroll_main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    print(json.dumps(unenroll(args.gallery, args.name, config, FaceReader(config).model_id)))
    return 0


def identify_main(args: argparse.Namespace) -> int:
    for answer in identify_photos(args.gallery, args.photos, load_config(args.config, args.set)):
        print(json.dumps(answer))
    return 0
