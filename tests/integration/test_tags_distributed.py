"""`facepipe tags suggest` with its kNN graph built as Ray tasks over index shards, on a local two-node
cluster: the same suggestions as in one process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import schema as S
from pipeline.config import Config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.io.tables import read_table
from pipeline.tags.suggest_job import suggest_tags
from tests.unit.tags.test_suggest_job import commit_faces, tag

pytestmark = pytest.mark.timeout(300)


def suggestions(dst: str) -> dict[str, str]:
    rows = read_table(dst, S.SUGGESTIONS_TABLE)
    return dict(zip(rows[S.FACE_ID].to_pylist(), rows[S.NAME].to_pylist()))


def test_suggestions_on_ray_equal_those_of_one_process(two_nodes, tmp_path: Path) -> None:
    data = face_like_embeddings(120, dim=64, faces_per_identity=(2, 40), noise_faces=150, seed=2)
    people = [f"p{label}" if label >= 0 else "nobody" for label in data.labels]
    storage = Config().resolved_storage()
    here, there = str(tmp_path / "here"), str(tmp_path / "there")
    for dst in (here, there):
        faces = commit_faces(dst, people, data.vectors, 0, storage)
        first_of = {}
        for face, person in zip(faces, people):
            if person != "nobody" and int(person[1:]) % 2 == 0:  # every other person tagged on a face
                first_of.setdefault(person, face)
        tag(dst, storage, [(face, person, "tag") for person, face in first_of.items()])
    assert len(faces) > 2000

    local = suggest_tags(here, Config())
    sharded = Config(tags={"distributed": True, "shard_faces": 1000})
    spread = suggest_tags(there, sharded)

    assert suggestions(here) == suggestions(there) and local.suggestions > 500
    assert spread.suggestions == local.suggestions
    people_of = dict(zip(faces, people))
    right = np.mean([people_of[face] == name for face, name in suggestions(here).items()])
    assert right >= 0.98, json.dumps(local)[:500]  # one tag per person, half the people never tagged
