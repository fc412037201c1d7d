"""Fixtures shared by the unit tests of several packages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.evaluate.synthetic import face_like_embeddings
from tests.photos import TREE_OTHERS, TREE_PHOTOS


@pytest.fixture(scope="module")
def faces():
    data = face_like_embeddings(40, faces_per_identity=(2, 30), noise_faces=30, seed=9)
    return data.vectors, np.where(data.labels >= 0, data.labels, -1 - np.arange(len(data.labels)))


@pytest.fixture()
def photo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for index, (relative, data) in enumerate({**TREE_PHOTOS, **TREE_OTHERS}.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index * 60))
    return root
