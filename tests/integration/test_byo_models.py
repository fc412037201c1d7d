"""Bring-your-own ONNX models (an InsightFace SCRFD detector and a MobileFaceNet) through the embed job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jobs.cli import main
from pipeline.io.tables import read_table
from tests.conftest import SHARED
from tests.photos import copy_lfw

MODELS = SHARED / "models"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def byo_models() -> dict[str, Path]:
    files = {"detector": MODELS / "scrfd_2.5g_bnkps.onnx", "embedder": MODELS / "mobilefacenet.onnx"}
    if not all(path.is_file() for path in files.values()):
        pytest.skip(f"bring-your-own test models not found in {MODELS}")
    return files


def test_embed_with_scrfd_and_mobilefacenet(byo_models, lfw_images: Path, tmp_path: Path, local_ray, capsys):
    src, dst = tmp_path / "photos", tmp_path / "tables"
    copy_lfw(lfw_images, src, 6, start=4000)
    for person in ("Tony_Blair", "Serena_Williams"):
        for n in (1, 2):
            target = src / person / f"{person}_{n:04d}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((lfw_images / person / target.name).read_bytes())
    settings = [
        "models.detector=scrfd",
        f"models.detector_path={byo_models['detector']}",
        "models.embedder=arcface",
        f"models.embedder_path={byo_models['embedder']}",
        "models.embedder_std=128",
    ]
    code = main(["embed", "--input", str(src), "--tables", str(dst), *sum((["--set", s] for s in settings), [])])
    assert code == 0, capsys.readouterr().out
    images, faces = read_table(str(dst), "images"), read_table(str(dst), "faces")
    assert images.num_rows == 10 and set(images["status"].to_pylist()) == {"ok"}
    assert faces.schema.field("embedding").type.list_size == 128
    assert set(faces["model"].to_pylist()) == {"arcface:mobilefacenet@e72a5710cce3"}
    assert set(faces["detector"].to_pylist()) == {"scrfd:scrfd_2.5g_bnkps@bc24bb349491"}
    latest = json.loads((dst / "_facepipe" / "latest.json").read_text())
    assert latest["models"]["embedding_dim"] == 128

    def central(uri_part: str) -> np.ndarray:
        rows = [f for f in faces.to_pylist() if uri_part in f["uri"]]
        best = min(
            rows,
            key=lambda f: abs((f["bbox"][0] + f["bbox"][2]) / 2 - 125) + abs((f["bbox"][1] + f["bbox"][3]) / 2 - 125),
        )
        return np.asarray(best["embedding"])

    blair, blair2, serena = central("Tony_Blair_0001"), central("Tony_Blair_0002"), central("Serena_Williams_0001")
    assert blair @ blair2 > 0.3 > blair @ serena


def test_byo_models_need_their_files(tmp_path: Path, capsys):
    (tmp_path / "photos").mkdir()
    code = main(
        [
            "embed",
            "--input",
            str(tmp_path / "photos"),
            "--tables",
            str(tmp_path / "o"),
            "--set",
            "models.embedder=arcface",
        ]
    )
    assert code == 2
    assert "models.embedder_path" in capsys.readouterr().err
