"""Several libraries in one store, end to end on real photos: `facepipe embed --library L` and
`--libraries-by-folder` reconcile each library alone, a photo belongs to one library, and the jobs that
read every face refuse to mix libraries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from jobs.cli import main
from pipeline import schema as S
from pipeline.io.tables import read_table
from tests.photos import copy_lfw

pytestmark = pytest.mark.timeout(600)


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main([*args, "--set", "output.commit_every=4"])
    printed = capsys.readouterr()
    lines = printed.out.strip().splitlines()
    return code, json.loads(lines[-1]) if code == 0 and lines else None, printed.err


def library(dst: Path, name: str) -> dict[str, list]:
    images = read_table(str(dst), S.IMAGES_TABLE, library=name).sort_by(S.URI)
    faces = read_table(str(dst), S.FACES_TABLE, library=name).sort_by(S.FACE_ID)
    return {"images": images.drop_columns([S.RUN_ID, S.PROCESSED_AT]).to_pylist(), "faces": faces.to_pylist()}


def test_libraries_named_on_the_command_line_share_a_store_and_stay_apart(tmp_path: Path, lfw_images: Path, capsys):
    anna, ben, dst = tmp_path / "anna", tmp_path / "ben", tmp_path / "dst"
    copy_lfw(lfw_images, anna, 4)
    copy_lfw(lfw_images, ben, 3, start=40)
    code, first, _ = run(capsys, "embed", "--input", str(anna), "--tables", str(dst), "--library", "anna")
    assert code == 0 and first["libraries"] == ["anna"] and first["new"] == 4
    code, _, _ = run(capsys, "embed", "--input", str(ben), "--tables", str(dst), "--library", "ben")
    assert code == 0
    bens = library(dst, "ben")
    assert {row[S.URI].split("/")[-3] for row in library(dst, "anna")["images"]} == {"anna"}
    assert {row[S.URI].split("/")[-3] for row in bens["images"]} == {"ben"} and len(bens["images"]) == 3
    faces = read_table(str(dst), S.FACES_TABLE)
    images = read_table(str(dst), S.IMAGES_TABLE)
    library_of = dict(zip(images[S.URI].to_pylist(), images[S.LIBRARY].to_pylist()))
    assert all(library_of[uri] == name for uri, name in zip(faces[S.URI].to_pylist(), faces[S.LIBRARY].to_pylist()))

    gone = sorted(anna.rglob("*.jpg"))[0]
    gone.unlink()
    code, again, _ = run(capsys, "embed", "--input", str(anna), "--tables", str(dst), "--library", "anna")
    assert code == 0 and again["removed"] == 1 and again["unchanged"] == 3
    assert str(gone) not in pc.unique(read_table(str(dst), S.IMAGES_TABLE)[S.URI]).to_pylist()
    assert library(dst, "ben") == bens, "reconciling anna's library leaves ben's rows as they were"

    code, _, err = run(capsys, "embed", "--input", str(anna), "--tables", str(dst), "--library", "ben")
    assert code == 2 and "belong to another library already" in err and "'anna'" in err
    assert library(dst, "ben") == bens

    code, _, err = run(capsys, "index", "--tables", str(dst))
    assert code == 2 and "holds the photos of 2 libraries (anna, ben)" in err
    code, people, _ = run(capsys, "cluster", "--tables", str(dst))
    assert code == 0 and people["scopes"] == 2, "each library in no circle is clustered alone"
    clusters = read_table(str(dst), S.CLUSTERS_TABLE)
    scopes = dict(zip(clusters[S.LIBRARY].to_pylist(), clusters[S.SCOPE].to_pylist()))
    assert scopes == {"anna": "library/anna", "ben": "library/ben"}


def test_each_folder_of_src_is_a_library_and_a_folder_gone_empties_its_library(
    tmp_path: Path, lfw_images: Path, capsys
):
    src, dst = tmp_path / "src", tmp_path / "dst"
    copy_lfw(lfw_images, src / "anna", 3)
    copy_lfw(lfw_images, src / "ben", 2, start=40)
    code, first, err = run(capsys, "embed", "--input", str(src), "--tables", str(dst), "--libraries-by-folder")
    assert code == 0 and first["libraries"] == ["anna", "ben"], err
    assert "2 libraries: anna, ben" in err
    assert len(library(dst, "anna")["images"]) == 3 and len(library(dst, "ben")["images"]) == 2

    anna = library(dst, "anna")
    shutil.rmtree(src / "ben")
    code, again, _ = run(capsys, "embed", "--input", str(src), "--tables", str(dst), "--libraries-by-folder")
    assert code == 0 and again["removed"] == 2 and again["libraries"] == ["anna", "ben"]
    assert library(dst, "ben")["images"] == [] and library(dst, "anna") == anna


def test_duplicates_form_within_a_library_and_within_each_circle(tmp_path: Path, lfw_images: Path, capsys):
    from PIL import Image

    photos = sorted(lfw_images.glob("*/*.jpg"))[:3]
    owners = {name: tmp_path / name for name in ("anna", "ben", "carl")}
    for folder in owners.values():
        folder.mkdir()
    shutil.copy(photos[0], owners["anna"] / "p0.jpg")
    shutil.copy(photos[1], owners["anna"] / "p1.jpg")
    shutil.copy(photos[0], owners["ben"] / "p0-copy.jpg")  # a byte copy of anna's photo: in their circle
    Image.open(photos[1]).resize((125, 125)).save(owners["ben"] / "p1-small.jpg", quality=90)
    shutil.copy(photos[0], owners["carl"] / "p0-too.jpg")  # carl shares no circle with anna: never grouped with hers
    shutil.copy(photos[2], owners["carl"] / "p2.jpg")
    shutil.copy(photos[2], owners["carl"] / "p2-again.jpg")  # a copy within carl's own library
    dst = tmp_path / "dst"
    for name, folder in owners.items():
        assert run(capsys, "embed", "--input", str(folder), "--tables", str(dst), "--library", name)[0] == 0
    assert (
        run(capsys, "circles", "set", "--tables", str(dst), "--circle", "family", "--libraries", "anna", "ben")[0] == 0
    )

    code, found, err = run(capsys, "dedup", "--tables", str(dst))
    assert code == 0 and found["scopes"] == 2, err
    rows = read_table(str(dst), S.DUPLICATES_TABLE).to_pylist()
    groups = {}
    for row in rows:
        groups.setdefault((row[S.SCOPE], row[S.GROUP_ID]), set()).add((row[S.LIBRARY], Path(row[S.URI]).name))
    assert sorted(sorted(members) for members in groups.values()) == [
        [("anna", "p0.jpg"), ("ben", "p0-copy.jpg")],
        [("anna", "p1.jpg"), ("ben", "p1-small.jpg")],
        [("carl", "p2-again.jpg"), ("carl", "p2.jpg")],
    ]
    assert {scope for scope, _ in groups} == {"circle/family", "library/carl"}

    move_to = tmp_path / "quarantine"
    code, _, err = run(capsys, "dedup", "apply", "--tables", str(dst), "--move-to", str(move_to), "--dry-run")
    assert code == 2 and "name the one whose copies move" in err
    code, plan, _ = run(
        capsys, "dedup", "apply", "--tables", str(dst), "--move-to", str(move_to), "--dry-run", "--library", "ben"
    )
    assert code == 0 and plan["moved"] == 2, "ben's two copies of anna's photos; hers stay, the keepers"
    code, _, err = run(capsys, "dedup", "review", "--tables", str(dst), "--output", str(tmp_path / "review"))
    assert code == 2 and "holds the photos of 3 libraries" in err
    for name, groups in (("ben", 2), ("carl", 1)):
        review = tmp_path / f"review-{name}"
        code, page, err = run(
            capsys, "dedup", "review", "--tables", str(dst), "--output", str(review), "--library", name
        )
        assert code == 0 and page["groups"] == groups, err
        shown = (review / "index.html").read_text()
        others = {"ben": "p2-again.jpg", "carl": "p0-copy.jpg"}[name]  # a copy of a library it shares nothing with
        assert others not in shown, f"{name}'s page shows no photo of a library outside its circles"


def test_a_night_of_a_store_of_libraries_by_folder(tmp_path: Path, lfw_images: Path, capsys):
    """The night embeds every library's new photos, finds people, copies and names per scope, skips the
    steps that work on one library's tables only (saying so), and runs again when a circle changes."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    copy_lfw(lfw_images, src / "anna", 4)
    copy_lfw(lfw_images, src / "ben", 3, start=40)
    night = ["nightly", "--input", str(src), "--tables", str(dst), "--libraries-by-folder"]
    code, first, err = run(capsys, *night)
    steps = {step["step"]: step for step in first["steps"]}
    assert code == 0 and steps["embed"]["status"] == "ok", err
    assert steps["cluster"]["status"] == steps["dedup"]["status"] == "ok"
    assert steps["index"]["status"] == steps["report"]["status"] == "skipped"
    assert "one library" in steps["index"]["why"]
    assert set(read_table(str(dst), S.CLUSTERS_TABLE)[S.SCOPE].to_pylist()) == {"library/anna", "library/ben"}

    code, again, _ = run(capsys, *night)
    assert code == 0 and all(step["status"] == "skipped" for step in again["steps"] if step["step"] != "maintain")
    run(capsys, "circles", "set", "--tables", str(dst), "--circle", "family", "--libraries", "anna", "ben")
    code, third, _ = run(capsys, *night)
    steps = {step["step"]: step["status"] for step in third["steps"]}
    assert steps["cluster"] == steps["dedup"] == "ok" and steps["embed"] == "skipped", "a circle changed the scopes"
    assert set(read_table(str(dst), S.CLUSTERS_TABLE)[S.SCOPE].to_pylist()) == {"circle/family"}

    family = read_table(str(dst), S.CLUSTERS_TABLE).sort_by(S.FACE_ID)
    copy_lfw(lfw_images, src / "carl", 3, start=80)  # a new library: only its scope is worked on
    code, fourth, _ = run(capsys, *night)
    steps = {step["step"]: step for step in fourth["steps"]}
    for name in ("cluster", "dedup"):
        assert (steps[name]["scopes"], steps[name]["scopes_skipped"], steps[name]["scopes_failed"]) == (1, 1, 0)
    clusters = read_table(str(dst), S.CLUSTERS_TABLE).sort_by(S.FACE_ID)
    assert set(clusters[S.SCOPE].to_pylist()) == {"circle/family", "library/carl"}
    kept = clusters.filter(pc.equal(clusters[S.SCOPE], "circle/family"))
    assert kept.equals(family), "the family's people are kept as they were, run id and all"


def test_each_owner_sees_their_own_faces_named_as_their_circle_named_them(tmp_path: Path, lfw_images: Path, capsys):
    """The people report of a library: its own faces only, a person by the name given in its circle, and
    the suggestions waiting; a library outside the circle sees no name from it."""
    import pyarrow as pa

    from pipeline.io.tags_table import record_tags

    bush = sorted((lfw_images / "George_W_Bush").glob("*.jpg"))
    dst = tmp_path / "dst"
    for k, name in enumerate(("anna", "ben", "carl")):
        folder = tmp_path / name
        copy_lfw(lfw_images, folder, 8, start=8 * k)  # people seen once: what the library's level is measured on
        for photo in bush[5 * k : 5 * k + 5]:
            shutil.copy(photo, folder / photo.name)
        assert run(capsys, "embed", "--input", str(folder), "--tables", str(dst), "--library", name)[0] == 0
    assert (
        run(capsys, "circles", "set", "--tables", str(dst), "--circle", "family", "--libraries", "anna", "ben")[0] == 0
    )
    annas = read_table(str(dst), S.FACES_TABLE, library="anna").sort_by([(S.DET_SCORE, "descending")])
    tagged = [f for f, uri in zip(annas[S.FACE_ID].to_pylist(), annas[S.URI].to_pylist()) if "George_W_Bush" in uri][:2]
    record_tags(str(dst), pa.table({S.FACE_ID: tagged, S.NAME: ["George"] * 2, S.VERDICT: ["tag"] * 2}))
    assert run(capsys, "cluster", "--tables", str(dst))[0] == 0
    assert run(capsys, "tags", "suggest", "--tables", str(dst))[0] == 0

    code, _, err = run(capsys, "report", "--tables", str(dst), "--output", str(tmp_path / "all"))
    assert code == 2 and "holds the photos of 3 libraries" in err
    pages = {}
    for name in ("ben", "carl"):
        out = tmp_path / f"report-{name}"
        code, shown, err = run(capsys, "report", "--tables", str(dst), "--output", str(out), "--library", name)
        assert code == 0, err
        pages[name] = ((out / "index.html").read_text(), {p.stem for p in (out / "thumbs").glob("*.jpg")}, shown)
    page, thumbs, shown = pages["ben"]
    bens = set(read_table(str(dst), S.FACES_TABLE, library="ben")[S.FACE_ID].to_pylist())
    assert thumbs and thumbs <= bens, "ben's page shows ben's faces only"
    assert "<h2>George: " in page and shown["named"] >= 1, "the name anna gave, in their circle"
    assert "waiting for an answer: George on" in page
    page, thumbs, shown = pages["carl"]
    carls = set(read_table(str(dst), S.FACES_TABLE, library="carl")[S.FACE_ID].to_pylist())
    assert thumbs <= carls and "<h2>George" not in page and shown["named"] == 0, "carl shares no circle with anna"

    before = read_table(str(dst), S.SUGGESTIONS_TABLE).sort_by([(S.SCOPE, "ascending"), (S.FACE_ID, "ascending")])
    code, same, _ = run(capsys, "tags", "suggest", "--tables", str(dst), "--changed-only")
    assert code == 0 and (same["scopes"], same["scopes_skipped"]) == (0, 2)
    carls_bush = [f for f in read_table(str(dst), S.FACES_TABLE, library="carl").to_pylist() if "Bush" in f[S.URI]]
    record_tags(str(dst), pa.table({S.FACE_ID: [carls_bush[0][S.FACE_ID]], S.NAME: ["GWB"], S.VERDICT: ["tag"]}))
    code, carl_only, _ = run(capsys, "tags", "suggest", "--tables", str(dst), "--changed-only")
    assert code == 0 and (carl_only["scopes"], carl_only["scopes_skipped"]) == (1, 1), "a tag in carl's library"
    after = read_table(str(dst), S.SUGGESTIONS_TABLE)
    family = after.filter(pc.equal(after[S.SCOPE], "circle/family")).sort_by(S.FACE_ID)
    assert family.equals(before.filter(pc.equal(before[S.SCOPE], "circle/family"))), "the circle's are kept"
    assert "George" not in after.filter(pc.equal(after[S.SCOPE], "library/carl"))[S.NAME].to_pylist()


def test_a_small_library_of_one_person_finds_that_person(tmp_path: Path, lfw_images: Path, capsys):
    """Ten photos of one man: the library's own faces of different people are too few to measure how alike
    different people are; capped at the model's level, the man is one person (uncapped: no one)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for photo in sorted((lfw_images / "George_W_Bush").glob("*.jpg"))[:10]:
        shutil.copy(photo, src / photo.name)
    assert run(capsys, "embed", "--input", str(src), "--tables", str(dst), "--library", "anna")[0] == 0
    sizes = {}
    for small in ("1000", "0"):
        code, found, err = run(capsys, "cluster", "--tables", str(dst), "--set", f"cluster.small_scope_faces={small}")
        assert code == 0, err
        sizes[small] = found["largest"]
    assert sizes["1000"] >= 8, sizes
    assert sizes["0"] < 8, "measured on its own faces, the level is that man's: he is split"
