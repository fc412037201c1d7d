"""facepipe's Python API: one function per job, each taking the library's one-writer lease and recording
its run, returning a typed result; the CLI (`facepipe VERB`) parses arguments and calls one of them.

    from pipeline import load_config, embed, cluster, read_table
    config = load_config()
    embed("~/Pictures", "faces-out", config)
    people = cluster("faces-out", config)
    faces = read_table("faces-out", "faces")

Names are imported on first use, so that ``import pipeline`` stays cheap (a CLI verb imports only what
its job needs)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Config": "pipeline.config",
    "load_config": "pipeline.config",
    "ConfigError": "pipeline.errors",
    "LeaseHeld": "pipeline.io.lease",
    "LeaseLost": "pipeline.io.fence",
    "read_table": "pipeline.io.tables",
    "TablesSnapshot": "pipeline.io.tables",
    "set_circle": "pipeline.io.circles",
    "remove_from_circle": "pipeline.io.circles",
    "embed": "pipeline.ingest.embed_job",
    "analyze": "pipeline.ingest.photo_faces",
    "index": "pipeline.search.face_index",
    "search_photos": "pipeline.search.face_index",
    "cluster": "pipeline.people.cluster_job",
    "report": "pipeline.people.report",
    "deduplicate": "pipeline.dedup.dedup_job",
    "apply_duplicates": "pipeline.dedup.apply",
    "undo_apply": "pipeline.dedup.apply",
    "review_duplicates": "pipeline.dedup.review",
    "add_tags": "pipeline.tags.tags_job",
    "remove_tags": "pipeline.tags.tags_job",
    "rename_tags": "pipeline.tags.tags_job",
    "suggest_tags": "pipeline.tags.suggest_job",
    "verify_photos": "pipeline.recognize.photos",
    "enroll_photos": "pipeline.recognize.photos",
    "identify_photos": "pipeline.recognize.photos",
    "nightly": "pipeline.nightly_job",
    "forget": "pipeline.erasure.forget",
    "lift_forgotten": "pipeline.erasure.forget",
    "set_library_faces": "pipeline.erasure.opt_out",
    "audit": "pipeline.erasure.audit",
    "train_embedder": "pipeline.train.train_job",
}
__all__ = [  # the names of _EXPORTS, spelled out for static tools
    "Config",
    "ConfigError",
    "LeaseHeld",
    "LeaseLost",
    "TablesSnapshot",
    "add_tags",
    "analyze",
    "apply_duplicates",
    "audit",
    "cluster",
    "deduplicate",
    "embed",
    "enroll_photos",
    "forget",
    "identify_photos",
    "index",
    "lift_forgotten",
    "load_config",
    "nightly",
    "read_table",
    "remove_from_circle",
    "remove_tags",
    "rename_tags",
    "report",
    "review_duplicates",
    "search_photos",
    "set_circle",
    "set_library_faces",
    "suggest_tags",
    "train_embedder",
    "undo_apply",
    "verify_photos",
]

if TYPE_CHECKING:  # what static tools (type checkers, the API reference) see
    from pipeline.config import Config, load_config
    from pipeline.dedup.apply import apply_duplicates, undo_apply
    from pipeline.dedup.dedup_job import deduplicate
    from pipeline.dedup.review import review_duplicates
    from pipeline.erasure.audit import audit
    from pipeline.erasure.forget import forget, lift_forgotten
    from pipeline.erasure.opt_out import set_library_faces
    from pipeline.errors import ConfigError
    from pipeline.ingest.embed_job import embed
    from pipeline.ingest.photo_faces import analyze
    from pipeline.io.circles import remove_from_circle, set_circle
    from pipeline.io.fence import LeaseLost
    from pipeline.io.lease import LeaseHeld
    from pipeline.io.tables import TablesSnapshot, read_table
    from pipeline.nightly_job import nightly
    from pipeline.people.cluster_job import cluster
    from pipeline.people.report import report
    from pipeline.recognize.photos import (
        enroll_photos,
        identify_photos,
        verify_photos,
    )
    from pipeline.search.face_index import index, search_photos
    from pipeline.tags.suggest_job import suggest_tags
    from pipeline.tags.tags_job import add_tags, remove_tags, rename_tags
    from pipeline.train.train_job import train_embedder


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
