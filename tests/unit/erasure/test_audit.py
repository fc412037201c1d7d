"""`facepipe audit` on a small store made here: every kind of file read as what it is (Delta data files, logs,
JSON, HTML, thumbnails, NumPy arrays, raw bytes, files that are not what their names say), a library's data
derived from its rows, unreferenced Delta files told apart; the CLI's lines, JSON and exit codes."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from PIL import Image

from jobs.cli import main
from pipeline import schema as S
from pipeline.config import Config
from pipeline.erasure.audit import audit
from pipeline.errors import ConfigError

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


VECTORS = unit(np.random.default_rng(0).normal(size=(4, DIM)))
# two photos of anna's, two of ben's; anna's ids sort first, so that the Delta log's minimum values are hers
ROWS = [
    {"uri": f"/photos/{who}/{n}.jpg", "image_id": f"{c}" * 64, "face_id": f"{c}" * 32, "library": who}
    for who, n, c in [("anna", 1, "a"), ("anna", 2, "b"), ("ben", 1, "c"), ("ben", 2, "d")]
]
ANNA, BEN = ROWS[:2], ROWS[2:]


def faces(rows: list[dict], vectors: np.ndarray) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    return table.append_column(S.EMBEDDING, pa.array(list(vectors), pa.list_(pa.float32())))


def make_store(root: Path) -> dict[str, Path]:
    """Every kind of file, each holding some of anna's data (and the library's name where it is no data)."""
    write_deltalake(str(root / "faces"), faces(ROWS, VECTORS))
    files = {
        "json": root / "_facepipe" / "runs" / "r1.json",
        "html": root / "report" / "index.html",
        "ben_html": root / "report-ben" / "index.html",
        "jpeg": root / "report" / "thumbs" / f"{ANNA[1]['face_id']}.jpg",
        "numpy": root / "export" / "anna.npy",
        "numpy_strings": root / "export" / "uris.npy",
        "raw": root / "cache" / "blob.bin",
        "bad_parquet": root / "stray.parquet",
        "bad_faiss": root / "index" / "index-x.faiss",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["json"].write_text(json.dumps({"forget": {"library": "anna"}, "failed": [ANNA[0]["uri"]]}))
    files["html"].write_text(f"<p>{html.escape(ANNA[1]['uri'])}</p>")
    files["ben_html"].write_text(f"<p>{html.escape(BEN[0]['uri'])}</p><p>library anna</p>")
    thumbnail = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(thumbnail, "JPEG")
    files["jpeg"].write_bytes(thumbnail.getvalue())
    np.save(files["numpy"], VECTORS[:1].astype(np.float64))
    np.save(files["numpy_strings"], np.array([["/photos/other.jpg", ANNA[1]["uri"]]]))
    noise = np.random.default_rng(1).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    files["raw"].write_bytes(noise[:3] + VECTORS[1].tobytes() + noise)
    files["bad_parquet"].write_bytes(b"PAR1 not parquet at all " + ANNA[0]["uri"].encode())
    files["bad_faiss"].write_bytes(b"not an index" + VECTORS[0].tobytes())
    return files


def found_by_path(result) -> dict[str, tuple[str, dict]]:
    return {
        f["path"]: (f["kind"], {k: v for k, v in f.items() if k not in ("path", "kind") and v})
        for f in result.files_found
    }


def test_a_library_is_found_in_every_kind_of_file_that_holds_its_data(tmp_path: Path) -> None:
    files = make_store(tmp_path)

    result = audit(str(tmp_path), Config(), library="anna")

    relative = {name: str(path.relative_to(tmp_path)) for name, path in files.items()}
    found = found_by_path(result)
    [data_file] = [path for path in found if path.startswith("faces/part-")]
    assert found.pop(data_file) == (
        "delta data file",
        {"uris": 2, "image_ids": 2, "face_ids": 2, "embeddings": 2, "library_rows": 2},
    )
    assert found.pop("faces/_delta_log/00000000000000000000.json") == (
        "delta log",
        {"uris": 1, "image_ids": 1, "face_ids": 1},  # the statistics' minimum values
    )
    assert found == {
        relative["json"]: ("json", {"uris": 1}),  # the library's name alone is no data of it
        relative["html"]: ("html", {"uris": 1}),
        relative["jpeg"]: ("jpeg", {"face_ids": 1}),  # by its name
        relative["numpy"]: ("numpy array", {"embeddings": 1}),
        relative["numpy_strings"]: ("numpy array", {"uris": 1}),
        relative["raw"]: ("file", {"embeddings": 1}),  # at an odd byte offset
        relative["bad_parquet"]: ("parquet", {"uris": 1}),
        relative["bad_faiss"]: ("faiss index", {"embeddings": 1}),
    }
    assert result.sought == {"library": "anna", "uris": 2, "image_ids": 2, "face_ids": 2, "embeddings": 2}
    assert sorted(result.read_raw) == sorted([relative["bad_parquet"], relative["bad_faiss"]])
    assert result.files_read == len(list(p for p in tmp_path.rglob("*") if p.is_file())) and result.exit_code == 1


def test_data_that_was_never_there_is_not_found(tmp_path: Path) -> None:
    make_store(tmp_path)
    strangers = unit(np.random.default_rng(7).normal(size=(5, DIM)))

    result = audit(str(tmp_path), Config(), library="carl", uris=["/photos/carl/1.jpg"], embeddings=strangers)

    assert result.files_found == [] and result.exit_code == 0
    assert result.sought == {"library": "carl", "uris": 1, "image_ids": 0, "face_ids": 0, "embeddings": 5}


def test_a_photo_brings_its_rows_ids_and_embeddings_and_an_overwritten_file_is_unreferenced(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "faces"), faces(ROWS, VECTORS))
    write_deltalake(str(tmp_path / "faces"), faces(ROWS[1:], VECTORS[1:]), mode="overwrite")

    result = audit(str(tmp_path), Config(), uris=[ANNA[0]["uri"]])

    kinds = {kind: counts for kind, counts in found_by_path(result).values()}
    assert result.sought == {"library": None, "uris": 1, "image_ids": 1, "face_ids": 1, "embeddings": 1}
    assert kinds == {
        "delta data file, unreferenced": {"uris": 1, "image_ids": 1, "face_ids": 1, "embeddings": 1},
        "delta log": {"uris": 1, "image_ids": 1, "face_ids": 1},  # the first commit's statistics
    }


def test_columns_of_string_views_nested_or_not_are_read_as_strings(tmp_path: Path) -> None:
    rows = faces(ROWS, VECTORS)
    views = pa.schema([f.with_type(pa.string_view()) if f.type == pa.string() else f for f in rows.schema])
    nested = pa.array([[row["face_id"]] for row in ROWS], pa.list_(pa.string_view()))
    pq.write_table(rows.cast(views).append_column("evidence", nested), tmp_path / "rewritten.parquet")
    assert pq.read_schema(tmp_path / "rewritten.parquet").field(S.URI).type == pa.string_view()

    result = audit(str(tmp_path), Config(), library="anna")

    assert result.sought == {"library": "anna", "uris": 2, "image_ids": 2, "face_ids": 2, "embeddings": 2}
    assert found_by_path(result) == {
        "rewritten.parquet": (
            "parquet",
            {"uris": 2, "image_ids": 2, "face_ids": 2, "embeddings": 2, "library_rows": 2},
        )
    }
    assert not result.read_raw


def test_an_audit_needs_something_to_look_for_and_a_store_that_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to look for"):
        audit(str(tmp_path), Config())
    with pytest.raises(ConfigError, match="not a readable folder"):
        audit(str(tmp_path / "nowhere"), Config(), library="anna")


def test_the_cli_lists_each_file_found_then_one_json_line_and_exits_1(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "dst"
    files = make_store(dst)
    (tmp_path / "uris.txt").write_text(f"{ANNA[1]['uri']}\n\n")

    code = main(["audit", "--tables", str(dst), "--uris", str(tmp_path / "uris.txt")])

    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert code == 1 and summary["found"] == len(lines) - 1 == len(summary["files_found"])
    assert f"{files['html'].relative_to(dst)}\thtml\t1 uri" in lines
    assert f"{files['jpeg'].relative_to(dst)}\tjpeg\t1 face id" in lines


def test_the_cli_exits_0_when_nothing_is_found_and_2_for_a_bad_embeddings_file(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "dst"
    make_store(dst)
    np.save(tmp_path / "strangers.npy", unit(np.random.default_rng(8).normal(size=(3, DIM))))
    np.save(tmp_path / "ids.npy", np.arange(4))

    assert main(["audit", "--tables", str(dst), "--embeddings", str(tmp_path / "strangers.npy")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["found"] == 0
    assert main(["audit", "--tables", str(dst), "--embeddings", str(tmp_path / "ids.npy")]) == 2
    assert "give rows of floats" in capsys.readouterr().err
    assert main(["audit", "--tables", str(dst)]) == 2
    assert "nothing to look for" in capsys.readouterr().err
