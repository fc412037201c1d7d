"""The model stage on decoded batches, including photos decoded at a reduced JPEG scale."""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
from PIL import Image

from pipeline import schema as S
from pipeline.analyze import AnalyzeFaces
from pipeline.config import ModelsConfig
from pipeline.decode import decode_photos
from pipeline.timing import zero_seconds


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def analyze(data: bytes, reduce_to: int | None) -> dict:
    columns = {S.URI: ["a.jpg"], S.IMAGE_ID: ["id"], S.ERROR: [None], S.BYTES: [data], S.SECONDS: zero_seconds(1)}
    read = pa.table(columns, schema=S.READ_SCHEMA)
    return AnalyzeFaces(ModelsConfig())(decode_photos(read, 10**9, reduce_to)).to_pylist()[0]


def test_reduced_decode_gives_the_faces_of_a_full_decode(lfw_images):
    face = Image.open(lfw_images / "Colin_Powell" / "Colin_Powell_0001.jpg").convert("RGB")
    native = analyze(jpeg(face), None)[S.FACES][0][S.EMBEDDING]
    large = jpeg(face.resize((2000, 2000), Image.Resampling.BICUBIC))  # big face: aligned from 1/4 scale
    canvas = Image.new("RGB", (3000, 3000), (120, 110, 100))
    canvas.paste(face.resize((500, 500)), (1200, 900))  # small at 1/4 scale: re-aligned from full size
    for data in (large, jpeg(canvas)):
        full, reduced = analyze(data, None), analyze(data, 640)
        assert all(reduced[S.SECONDS][stage] > 0 for stage in ("decode", "detect", "align", "embed"))
        assert (reduced[S.WIDTH], reduced[S.HEIGHT]) == (full[S.WIDTH], full[S.HEIGHT])
        assert len(reduced[S.FACES]) == len(full[S.FACES]) >= 1
        a, b = full[S.FACES][0], reduced[S.FACES][0]
        side = a[S.BBOX][2] - a[S.BBOX][0]
        np.testing.assert_allclose(a[S.BBOX], b[S.BBOX], atol=0.05 * side)
        # the reduced decode's embedding is as close to the native-size photo's as the full decode's
        assert float(np.dot(native, b[S.EMBEDDING])) >= float(np.dot(native, a[S.EMBEDDING])) - 0.02
        assert float(np.dot(a[S.EMBEDDING], b[S.EMBEDDING])) > 0.95
