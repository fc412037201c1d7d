"""`facepipe nightly` on LFW photos in three rounds: half of the photos; the rest added, some removed and
a few faces tagged; nothing new. The tables are right after each round, the third round skips every
step, and the runs table holds all three runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import schema as S
from pipeline.io.tables import TablesSnapshot, read_table

pytestmark = pytest.mark.timeout(900)

PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon", "Hugo_Chavez"]
PHOTOS = 6  # of each person
STEPS = ["embed", "index", "cluster", "dedup", "tags", "report", "maintain"]


def nightly(src: Path, dst: Path, expect: int = 0) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "nightly", "--input", str(src), "--tables", str(dst)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert done.returncode == expect, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def statuses(summary: dict) -> dict[str, str]:
    return {step["step"]: step["status"] for step in summary["steps"]}


def photo(lfw_images: Path, person: str, number: int) -> Path:
    return lfw_images / person / f"{person}_{number:04d}.jpg"


def test_three_nights(lfw_images: Path, tmp_path: Path) -> None:
    src, dst = tmp_path / "photos", tmp_path / "library"
    first = [(p, n) for p in PEOPLE for n in range(1, PHOTOS // 2 + 1)]
    later = [(p, n) for p in PEOPLE for n in range(PHOTOS // 2 + 1, PHOTOS + 1)]
    src.mkdir()
    for person, number in first:
        shutil.copy(photo(lfw_images, person, number), src / f"{person}_{number}.jpg")

    one = nightly(src, dst)
    assert statuses(one) == {**dict.fromkeys(STEPS, "ok"), "tags": "skipped"}  # nobody tagged yet
    images = read_table(str(dst), S.IMAGES_TABLE)
    assert sorted(images[S.URI].to_pylist()) == sorted(str(src / f"{p}_{n}.jpg") for p, n in first)
    maintained = next(step for step in one["steps"] if step["step"] == "maintain")
    assert maintained["tables_checkpointed"] == len(checkpointed := list(dst.glob("*/_delta_log/_last_checkpoint")))
    assert {path.parts[-3] for path in checkpointed} >= {S.IMAGES_TABLE, S.FACES_TABLE, S.CLUSTERS_TABLE}
    assert maintained["faces_files"] == len(TablesSnapshot(str(dst)).table(S.FACES_TABLE).file_uris())

    for person, number in later:
        shutil.copy(photo(lfw_images, person, number), src / f"{person}_{number}.jpg")
    gone = [src / f"{person}_1.jpg" for person in PEOPLE[:2]]
    for path in gone:
        path.unlink()
    tags = tmp_path / "tags.csv"
    tags.write_text("uri,name\n" + "".join(f"{src / f'{p}_2.jpg'},{p}\n" for p in PEOPLE[:4]))
    added = subprocess.run([sys.executable, "-m", "jobs.cli", "tags", "add", "--tables", str(dst), "--tags", str(tags)])
    assert added.returncode == 0

    two = nightly(src, dst)
    assert statuses(two) == dict.fromkeys(STEPS, "ok")
    expected = sorted(str(src / f"{p}_{n}.jpg") for p, n in first + later if src / f"{p}_{n}.jpg" not in gone)
    images = read_table(str(dst), S.IMAGES_TABLE)
    assert sorted(images[S.URI].to_pylist()) == expected  # none lost, none twice, the removed gone
    faces = read_table(str(dst), S.FACES_TABLE)
    assert set(faces[S.URI].to_pylist()) <= set(expected)
    clusters = read_table(str(dst), S.CLUSTERS_TABLE)
    assert sorted(clusters[S.FACE_ID].to_pylist()) == sorted(faces[S.FACE_ID].to_pylist())
    duplicates = read_table(str(dst), S.DUPLICATES_TABLE)
    assert set(duplicates[S.URI].to_pylist()) <= set(expected)
    suggested = read_table(str(dst), S.SUGGESTIONS_TABLE)
    assert set(suggested[S.NAME].to_pylist()) <= set(PEOPLE[:4]) and suggested.num_rows
    assert (dst / "report" / "index.html").is_file() and (dst / "index").is_dir()

    three = nightly(src, dst)
    # maintain runs every night (history expires with time); its commits change no row, so they do not make the
    # other steps run again
    assert statuses(three) == {**dict.fromkeys(STEPS, "skipped"), "maintain": "ok"}
    runs = sorted(read_table(str(dst), "runs").to_pylist(), key=lambda r: r["started_at"])
    assert [r["command"].split()[1] for r in runs] == ["nightly", "tags", "nightly", "nightly"]  # tags add too
    nights = [r for r in runs if r["command"].startswith("facepipe nightly")]
    assert [r["run_id"] for r in nights] == [one["run_id"], two["run_id"], three["run_id"]]
    assert all(r["exit_code"] == 0 for r in runs)
    assert [s["name"] for s in nights[1]["steps"]] == STEPS
    last = nights[-1]
    assert {s["name"]: s["status"] for s in last["steps"]} == {**dict.fromkeys(STEPS, "skipped"), "maintain": "ok"}
