"""The throughput benchmarks' own parts: the plain OpenCV loop and the ceiling's model stand-ins."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from benchmarks import ceiling
from benchmarks.reference_loop import run_loop
from pipeline import schema as S
from pipeline.config import ModelsConfig
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.ingest.decode import decode_photos
from pipeline.ingest.timing import zero_seconds
from pipeline.models.registry import load_detector, resolve_models


def test_reference_loop_embeds_every_face_the_detector_finds(lfw_images):
    photos = sorted(lfw_images.glob("A*/*.jpg"))[:12]
    figures = run_loop(photos)
    detector = load_detector(resolve_models(ModelsConfig(detector_engine="opencv")))
    expected = sum(len(detector.detect(cv2.imread(str(p))[:, :, ::-1])) for p in photos)
    assert figures["photos"] == 12
    assert figures["faces"] == expected >= 12
    assert figures["photos_per_s"] > 0


def test_stand_ins_give_one_aligned_face_per_photo(lfw_images, monkeypatch):
    import pipeline.ingest.analyze as analyze

    monkeypatch.setattr(analyze, "load_detector", analyze.load_detector)
    monkeypatch.setattr(analyze, "load_embedder", analyze.load_embedder)
    ceiling.use_stand_ins()
    photos = sorted(lfw_images.glob("B*/*.jpg"))[:5]
    n = len(photos)
    read = pa.table(
        {
            S.URI: [str(p) for p in photos],
            S.IMAGE_ID: [str(i) for i in range(n)],
            S.ERROR: [None] * n,
            S.BYTES: [p.read_bytes() for p in photos],
            S.SECONDS: zero_seconds(n),
        },
        schema=S.READ_SCHEMA,
    )
    rows = AnalyzeFaces(resolve_models(ModelsConfig()))(decode_photos(read, 10**9, None)).to_pylist()
    for row in rows:
        assert row[S.STATUS] == S.STATUS_OK and len(row[S.FACES]) == 1
        face = row[S.FACES][0]
        np.testing.assert_allclose(face[S.BBOX], [62.5, 62.5, 187.5, 187.5])
        assert abs(np.linalg.norm(face[S.EMBEDDING]) - 1) < 1e-6
        assert row[S.SECONDS]["align"] > 0
