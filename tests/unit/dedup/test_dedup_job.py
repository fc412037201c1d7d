"""The dedup job's same-person check of similar photos: dedup.same_person carried to the faces' model by the
threshold service; a model without a FAR curve stacks nothing by its faces and the summary says why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline import schema as S
from pipeline.config import Config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.errors import ConfigError
from pipeline.io.tables import FaceTables, read_table
from pipeline.models.catalog import model_file_stem
from pipeline.similarity.far_curves import SHIPPED
from pipeline.similarity.thresholds import REFERENCE_MODEL
from tests.tables import faces_table, images_table

DIM = 8


def flipped(code: bytes, bits: int) -> bytes:
    """``code`` with its first ``bits`` bits flipped."""
    value = bytearray(code)
    for bit in range(bits):
        value[bit // 8] ^= 1 << (bit % 8)
    return bytes(value)


def library(dst: str, model: str, keypoints: bytes | None = b"") -> None:
    """Two photos of one person whose PDQ hashes are 50 bits apart (past dedup.pdq_distance, within
    dedup.similar_distance), and a third photo of someone else, far from both."""
    rng = np.random.default_rng(0)
    code = rng.integers(0, 256, 32, np.uint8).tobytes()
    hashes = [code, flipped(code, 50), bytes(255 - b for b in code)]
    uris = [f"{dst}/photos/{k}.jpg" for k in range(3)]
    images = images_table(uris, [f"img-{k}" for k in range(3)], [1, 1, 1], side=120, size=1000)
    fingerprints = {
        S.SHA256: pa.array([f"s{k}" for k in range(3)]),
        S.PIXEL_SHA256: pa.array([f"p{k}" for k in range(3)]),
        S.PDQ: pa.array(hashes, pa.binary()),
        S.PDQ_QUALITY: pa.array([100] * 3, pa.int32()),
        S.KEYPOINTS: pa.array([keypoints] * 3, pa.binary()),  # none: only the hashes and faces link these
    }
    for name, column in fingerprints.items():
        images = images.set_column(images.schema.get_field_index(name), name, column)
    person, stranger = np.eye(DIM, dtype=np.float32)[:2]
    faces = faces_table(
        [f"f{k}" for k in range(3)],
        [f"img-{k}" for k in range(3)],
        uris,
        [0, 0, 0],
        [[40.0, 40.0, 80.0, 80.0]] * 3,
        DIM,
        np.stack([person, person, stranger]),
        model,
    )
    FaceTables(dst, Config().resolved_storage(), DIM, model, "d").commit(images, faces, [])


def stacked(dst: str) -> list[str]:
    return sorted(Path(uri).name for uri in read_table(dst, S.SIMILAR_TABLE)[S.URI].to_pylist())


def test_photos_of_one_person_stack_at_the_carried_threshold(tmp_path: Path) -> None:
    dst, config = str(tmp_path / "tables"), Config(recognize={"calibrations": str(tmp_path / "calibrations")})
    library(dst, REFERENCE_MODEL)
    summary = deduplicate(dst, config)
    assert stacked(dst) == ["0.jpg", "1.jpg"] and summary.similar_stacks == 1
    assert summary.same_person["threshold"] == 0.5 and "as configured" in summary.same_person["source"]


def test_a_model_without_a_far_curve_stacks_nothing_by_faces_and_says_how_to_calibrate(tmp_path: Path) -> None:
    folder = tmp_path / "calibrations"
    dst, config = str(tmp_path / "tables"), Config(recognize={"calibrations": str(folder)})
    library(dst, "my-model")
    summary = deduplicate(dst, config)
    assert stacked(dst) == [] and summary.similar_stacks == 0
    why = summary.same_person["why"]
    assert summary.same_person["threshold"] is None
    assert "model my-model has no FAR curve" in why and "facepipe calibrate --lfw-dir DIR --all-pairs" in why

    record = json.loads((SHIPPED / (model_file_stem(REFERENCE_MODEL) + ".json")).read_text())
    record["curve"]["thresholds"] = [t + 0.2 for t in record["curve"]["thresholds"]]
    folder.mkdir()
    (folder / "my-model.json").write_text(json.dumps(record))
    calibrated = deduplicate(dst, config)  # a new threshold: compared again, not carried over from the last run
    assert calibrated.mode == "full" and stacked(dst) == ["0.jpg", "1.jpg"]
    assert abs(calibrated.same_person["threshold"] - 0.7) < 2e-3 and "carried" in calibrated.same_person["source"]


def test_tables_without_keypoints_are_refused_only_when_edited_copies_are_looked_for(tmp_path: Path) -> None:
    dst = str(tmp_path / "tables")
    library(dst, REFERENCE_MODEL, keypoints=None)  # tables written before keypoints were kept
    config = Config(recognize={"calibrations": str(tmp_path / "calibrations")})
    assert deduplicate(dst, config).similar_stacks == 1
    with pytest.raises(ConfigError, match="3 of 3 photos .* have no dedup fingerprints"):
        deduplicate(dst, config.model_copy(update={"dedup": config.dedup.model_copy(update={"edits": True})}))
