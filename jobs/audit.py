"""`facepipe audit`: the files under DST that still hold a library's, photos' or embeddings' data
(pipeline.audit); exit 1 when any does, 0 when none."""

from __future__ import annotations

import argparse
import io

import numpy as np

from jobs.options import add_tables
from pipeline.config import StorageConfig, load_config
from pipeline.erasure.audit import HELD, audit
from pipeline.errors import ConfigError
from pipeline.io import store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tables(parser, help="folder or s3:// prefix of the store to read (every file below it)")
    parser.add_argument("--library", metavar="L", help="the rows of this library, and their uris, ids and embeddings")
    parser.add_argument("--uri", dest="uris", nargs="+", action="extend", default=[], metavar="URI", help="photos")
    parser.add_argument("--uris", dest="uris_file", metavar="FILE", help="photos: a file of uris, one a line")
    parser.add_argument("--embeddings", metavar="FILE.npy", help="embeddings: float32 vectors, one a row")


def _read(path: str, storage: StorageConfig, option: str) -> bytes:
    try:
        return store.read_bytes(path, storage)
    except FileNotFoundError as exc:
        raise ConfigError(f"{option} {path}: no such file") from exc


def _uris_of(path: str, storage: StorageConfig) -> list[str]:
    text = _read(path, storage, "--uris").decode()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _embeddings_of(path: str, storage: StorageConfig) -> np.ndarray:
    try:
        vectors = np.load(io.BytesIO(_read(path, storage, "--embeddings")), allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"--embeddings {path} is not a NumPy array file ({exc})") from exc
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise ConfigError(f"--embeddings {path} holds {vectors.dtype} of shape {vectors.shape}: give rows of floats")
    return vectors


def _counted(count: int, plural: str) -> str:
    return f"{count} {plural[:-1] if count == 1 else plural}"


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    storage = config.resolved_storage()
    uris = args.uris + (_uris_of(args.uris_file, storage) if args.uris_file else [])
    embeddings = _embeddings_of(args.embeddings, storage) if args.embeddings else None
    result = audit(args.tables, config, library=args.library, uris=uris, embeddings=embeddings)
    for found in result.files_found:
        held = ", ".join(_counted(found[kind], kind.replace("_", " ")) for kind in HELD if found[kind])
        print(f"{found['path']}\t{found['kind']}\t{held}")
    print(result.to_json())
    return result.exit_code
