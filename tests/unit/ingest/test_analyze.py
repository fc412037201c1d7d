"""The model stage on decoded batches, including photos decoded at a reduced JPEG scale."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image

from pipeline import schema as S
from pipeline.config import ModelsConfig
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.ingest.decode import decode_photos
from pipeline.ingest.timing import zero_seconds
from pipeline.models.registry import resolve_models


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def analyze_all(
    files: list[bytes],
    reduce_to: int | None,
    models: ModelsConfig | None = None,
    device_min_pixels: int | None = None,
) -> list[dict]:
    n = len(files)
    columns = {
        S.URI: [f"{i}.jpg" for i in range(n)],
        S.IMAGE_ID: [str(i) for i in range(n)],
        S.ERROR: [None] * n,
        S.BYTES: files,
        S.SECONDS: zero_seconds(n),
    }
    read = pa.table(columns, schema=S.READ_SCHEMA)
    return AnalyzeFaces(resolve_models(models or ModelsConfig()))(
        decode_photos(read, 10**9, reduce_to, device_min_pixels)
    ).to_pylist()


def analyze(data: bytes, reduce_to: int | None) -> dict:
    return analyze_all([data], reduce_to)[0]


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


def _photos_for_device(lfw_images) -> list[bytes]:
    """Two 1000x1000 LFW photos, a 250x250 one and a damaged 1000x1000 JPEG."""
    people = ("Colin_Powell/Colin_Powell_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg")
    large = [
        jpeg(Image.open(lfw_images / p).convert("RGB").resize((1000, 1000), Image.Resampling.BICUBIC)) for p in people
    ]
    small = (lfw_images / "Tony_Blair" / "Tony_Blair_0001.jpg").read_bytes()
    return [*large, small, large[0][: len(large[0]) // 3]]


def _same_faces(rows: list[dict], reference: list[dict], min_cosine: float) -> None:
    for row, ref in zip(rows, reference):
        assert (row[S.STATUS], row[S.WIDTH], row[S.HEIGHT]) == (ref[S.STATUS], ref[S.WIDTH], ref[S.HEIGHT])
        assert len(row[S.FACES]) == len(ref[S.FACES])
        for face, ref_face in zip(row[S.FACES], ref[S.FACES]):
            side = ref_face[S.BBOX][2] - ref_face[S.BBOX][0]
            np.testing.assert_allclose(face[S.BBOX], ref_face[S.BBOX], atol=0.02 * side)
            assert float(np.dot(face[S.EMBEDDING], ref_face[S.EMBEDDING])) >= min_cosine


def test_jpegs_left_for_the_gpu_decode_on_the_cpu_in_a_cpu_actor(lfw_images):
    files = _photos_for_device(lfw_images)
    reference = analyze_all(files, reduce_to=None)
    rows = analyze_all(files, reduce_to=640, device_min_pixels=500_000)

    assert [r[S.STATUS] for r in rows[:3]] == [S.STATUS_OK] * 3
    assert all(r[S.SECONDS]["decode"] > 0 for r in rows)
    _same_faces(rows, reference, min_cosine=0.9999)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG decode)")
def test_nvjpeg_decode_on_the_gpu_gives_the_faces_of_a_cpu_decode(lfw_images):
    files = _photos_for_device(lfw_images)
    cuda = ModelsConfig(device="cuda")
    reference = analyze_all(files, reduce_to=None)  # CPU decode, CPU models
    rows = analyze_all(files, reduce_to=640, models=cuda, device_min_pixels=500_000)

    assert [r[S.STATUS] for r in rows[:3]] == [S.STATUS_OK] * 3
    _same_faces(rows[:3], reference[:3], min_cosine=0.995)
    assert rows[3][S.STATUS] in (S.STATUS_OK, S.STATUS_NO_FACE, S.STATUS_ERROR), "a damaged JPEG never stops the batch"


def test_torch_device_path_finds_the_same_faces_as_opencv(lfw_images):
    from pipeline.ingest.analyze import AnalyzeFaces

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(lfw_images.glob("E*/*.jpg"))[:12]]
    photos.append(np.asarray(Image.fromarray(photos[0]).resize((300, 260))))  # a second shape group
    reference = AnalyzeFaces(resolve_models(ModelsConfig(detector_engine="opencv", embedder_engine="opencv"))).faces_of(
        photos
    )
    on_device = AnalyzeFaces(resolve_models(ModelsConfig(detector_engine="torch", embedder_engine="torch")))
    assert on_device.on_device
    got = on_device.faces_of(photos)
    for expected, faces in zip(reference, got):
        assert len(expected) == len(faces)
        for a, b in zip(expected, faces):
            np.testing.assert_allclose(a["bbox"], b["bbox"], atol=0.5)
            assert float(np.dot(a["embedding"], b["embedding"])) > 0.995
