"""The duplicates table at DST scored against a truth CSV, split by photos with and without faces."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.evaluate.dedup import evaluate_dedup, read_dedup_truth
from pipeline.io.tables import write_dedup

TRUTH = """uri,original,kind,person,faces
photos/ann_1.jpg,photos/ann_1.jpg,original,Ann,yes
copies/ann_1_byte_copy.jpg,photos/ann_1.jpg,byte_copy,Ann,yes
copies/ann_1_half_size.jpg,photos/ann_1.jpg,half_size,Ann,yes
photos/ann_2.jpg,photos/ann_2.jpg,original,Ann,yes
photos/cat.jpg,photos/cat.jpg,original,,no
copies/cat_png.png,photos/cat.jpg,png,,no
copies/cat_mirrored.jpg,photos/cat.jpg,mirrored,,no
"""


def _duplicates(root: Path, rows: list[tuple[str, str, str, str]]) -> pa.Table:
    """Duplicates rows (group, relative path, kind, role) with the uris the tables would hold."""
    return pa.table(
        {
            S.SCOPE: [S.DEFAULT_SCOPE] * len(rows),
            S.GROUP_ID: [r[0] for r in rows],
            S.IMAGE_ID: [f"id-{r[1]}" for r in rows],
            S.URI: [str(root / r[1]) for r in rows],
            S.LIBRARY: [S.DEFAULT_LIBRARY] * len(rows),
            S.KIND: [r[2] for r in rows],
            S.ROLE: [r[3] for r in rows],
            S.SCORE: [1.0] * len(rows),
            S.EVIDENCE: ["{}"] * len(rows),
            S.SIZE: [1000] * len(rows),
            S.SHA256: ["0" * 64] * len(rows),
            S.RUN_ID: ["run"] * len(rows),
        }
    )


def test_evaluation_reads_the_table_and_splits_faces(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "truth.csv").write_text(TRUTH)
    # Ann's original and byte copy found, her half-size copy missed and her other photo wrongly added;
    # the cat's png copy found (kept: full quality) but not its mirrored copy.
    rows = [
        ("g1", "photos/ann_1.jpg", S.KIND_EXACT, S.ROLE_DUPLICATE),
        ("g1", "copies/ann_1_byte_copy.jpg", S.KIND_EXACT, S.ROLE_KEEP),
        ("g1", "photos/ann_2.jpg", S.KIND_NEAR_DUPLICATE, S.ROLE_DUPLICATE),
        ("g2", "photos/cat.jpg", S.KIND_SAME_PIXELS, S.ROLE_DUPLICATE),
        ("g2", "copies/cat_png.png", S.KIND_SAME_PIXELS, S.ROLE_KEEP),
        ("g3", "elsewhere/unknown.jpg", S.KIND_EXACT, S.ROLE_KEEP),
    ]
    dst = str(tmp_path / "tables")
    write_dedup(dst, _duplicates(library, rows), S.SIMILAR_SCHEMA.empty_table(), None, 0, {"pdq_distance": 52})

    metrics = evaluate_dedup(dst, str(library / "truth.csv"), load_config())

    assert metrics["photos"] == 7 and metrics["true_pairs"] == 3 + 3
    assert metrics["pairs_found"] == 2 and metrics["predicted_pairs"] == 4
    assert metrics["pairwise_precision"] == 0.5 and metrics["pairwise_recall"] == pytest.approx(2 / 6)
    assert metrics["recall_by_kind"] == {"byte_copy": 1.0, "half_size": 0.0, "mirrored": 0.0, "png": 1.0}
    assert metrics["different_photos_grouped"] == {"pairs": 2, "originals": 1, "same_person": 2}
    assert metrics["keeper_right"] == 1.0 and metrics["keeper_groups"] == 2
    faces, no_faces = metrics["by_faces"]["yes"], metrics["by_faces"]["no"]
    assert faces["photos"] == 4 and faces["pairwise_recall"] == pytest.approx(1 / 3)
    assert faces["recall_by_kind"] == {"byte_copy": 1.0, "half_size": 0.0}
    assert no_faces["photos"] == 3 and no_faces["pairwise_recall"] == pytest.approx(1 / 3)
    assert no_faces["recall_by_kind"] == {"mirrored": 0.0, "png": 1.0}
    assert metrics["predicted_kind_by_copy_kind"] == {"byte_copy": {"exact": 1}, "png": {"same_pixels": 1}}
    assert metrics["grouped_photos_not_in_truth"] == 1
    assert metrics["dedup"] == {"pdq_distance": 52}
    json.dumps(metrics)  # the benchmark prints it


def test_truth_uris_resolve_against_the_csv_folder_and_bad_truth_is_refused(tmp_path: Path) -> None:
    (tmp_path / "truth.csv").write_text(TRUTH)
    truth = read_dedup_truth(str(tmp_path / "truth.csv"))
    assert truth.originals[str(tmp_path / "copies/cat_png.png")] == str(tmp_path / "photos/cat.jpg")
    assert truth.full_quality == {str(tmp_path / p) for p in ("photos/ann_1.jpg", "copies/ann_1_byte_copy.jpg")} | {
        str(tmp_path / p) for p in ("photos/ann_2.jpg", "photos/cat.jpg", "copies/cat_png.png")
    }
    (tmp_path / "orphan.csv").write_text("uri,original,kind,person,faces\na.jpg,b.jpg,png,,no\n")
    with pytest.raises(ConfigError, match="no row of their own"):
        read_dedup_truth(str(tmp_path / "orphan.csv"))
    (tmp_path / "labels.csv").write_text("uri,person\na.jpg,Ann\n")
    with pytest.raises(ConfigError, match="columns"):
        read_dedup_truth(str(tmp_path / "labels.csv"))
