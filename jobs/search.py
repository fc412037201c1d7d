"""`facepipe search`: the nearest indexed faces of each face in a photo, as JSON."""

from __future__ import annotations

import argparse
import json

from pipeline.config import load_config
from pipeline.search.face_index import search_photos


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="folder or s3:// prefix of an index (facepipe index)")
    parser.add_argument("--image", required=True, action="append", help="photo to search with (repeatable)")
    parser.add_argument("--k", type=int, help="neighbours per face (default: index.k)")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    for result in search_photos(args.index, args.image, config, args.k):
        print(json.dumps(result))
    return 0
