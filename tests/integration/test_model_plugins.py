"""A third party's embedder, installed as a package of its own (built here, installed with pip), chosen by
configuration: the embed CLI runs it and records its id and dimension, and verify refuses to guess its
threshold until it is calibrated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import schema as S
from pipeline.io.tables import read_table
from pipeline.models.align import align_faces
from tests.photos import copy_lfw

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME, MODEL_ID, DIM = "grey64", "grey64:gaussian-seed7", 64

PYPROJECT = f"""
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "facepipe-grey-projection"
version = "0.1.0"

[tool.setuptools]
py-modules = ["grey_projection"]

[project.entry-points."facepipe.embedders"]
{NAME} = "grey_projection:factory"
"""

MODULE = f'''
"""A 64-d embedder without weights: a fixed random projection of the grey 112x112 crop."""

import numpy as np

from pipeline.models.protocols import TEMPLATE_ALIGNMENT, ModelChoice

PROJECTION = np.random.default_rng(7).standard_normal((112 * 112, {DIM})).astype(np.float32)


class GreyProjection:
    dim, device, crop_size, alignment, device_input = {DIM}, "cpu", 112, TEMPLATE_ALIGNMENT, False

    def __init__(self, model_id):
        self.model_id = model_id

    def __call__(self, crops):
        grey = np.asarray(crops, np.float32).mean(axis=3).reshape(len(crops), -1)
        vectors = (grey - grey.mean(axis=1, keepdims=True)) @ PROJECTION
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Factory:
    def choose(self, name, settings, device):
        return ModelChoice(name, "numpy", "cpu", None, "{MODEL_ID}", {DIM})

    def load(self, choice, settings, threads):
        return GreyProjection(choice.model_id)


factory = Factory()
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The folder the third-party package is installed into (pip --target), to put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("plugin")
    package, site = root / "package", root / "site"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "grey_projection.py").write_text(textwrap.dedent(MODULE))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(package)], check=True, capture_output=True, timeout=300)
    return site


def facepipe(site: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(site)) if p)
    command = [sys.executable, "-m", "jobs.cli", *args, "--set", f"models.embedder={NAME}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=420, env={**os.environ, "PYTHONPATH": path})


def test_an_installed_embedder_plugin_embeds_and_must_be_calibrated(plugin_site, lfw_images, tmp_path, monkeypatch):
    src, dst = tmp_path / "photos", tmp_path / "tables"
    photos = copy_lfw(lfw_images, src, 10, start=3000)
    # on Ray (not in process, as a run this small would be): the model actors load the plug-in too
    done = facepipe(plugin_site, "embed", "--input", str(src), "--tables", str(dst), "--set", "ray.in_process_below=0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(on Ray)" in done.stderr  # the summary for a person (stdout holds the JSON)

    images, faces = read_table(str(dst), S.IMAGES_TABLE), read_table(str(dst), S.FACES_TABLE)
    assert images.num_rows == 10 and set(images[S.STATUS].to_pylist()) == {S.STATUS_OK}
    assert set(faces[S.MODEL].to_pylist()) == {MODEL_ID}
    assert faces.schema.field(S.EMBEDDING).type.list_size == DIM
    vectors = np.asarray(faces[S.EMBEDDING].to_pylist(), np.float32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    indexes: dict[str, list[int]] = {}  # one row per face: each photo's faces 0 .. num_faces - 1, once
    for image_id, index in zip(faces[S.IMAGE_ID].to_pylist(), faces[S.FACE_INDEX].to_pylist()):
        indexes.setdefault(image_id, []).append(index)
    counts = dict(zip(images[S.IMAGE_ID].to_pylist(), images[S.NUM_FACES].to_pylist()))
    assert {image: sorted(found) for image, found in indexes.items()} == {i: list(range(n)) for i, n in counts.items()}
    assert len(set(faces[S.FACE_ID].to_pylist())) == faces.num_rows

    # each vector is the plug-in's projection of that face's aligned crop: the plug-in ran, not another model
    monkeypatch.syspath_prepend(str(plugin_site))
    from grey_projection import GreyProjection

    by_uri = {str(p): np.asarray(Image.open(p).convert("RGB")) for p in photos}
    for face in faces.to_pylist():
        crop = align_faces(by_uri[face[S.URI]], np.asarray(face[S.LANDMARKS], np.float32)[None])
        np.testing.assert_allclose(face[S.EMBEDDING], GreyProjection(MODEL_ID)(crop)[0], atol=1e-5)

    verified = facepipe(
        plugin_site, "verify", str(photos[0]), str(photos[1]), "--set", f"recognize.calibrations={tmp_path / 'cal'}"
    )
    assert verified.returncode == 2, verified.stdout + verified.stderr[-3000:]
    assert MODEL_ID in verified.stderr and "facepipe calibrate" in verified.stderr
