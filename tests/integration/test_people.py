"""`facepipe cluster` and `facepipe eval cluster` end to end on real LFW photos."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest
from PIL import Image

from pipeline import schema as S
from pipeline.io.tables import read_table
from tests.browser import Browser

pytestmark = pytest.mark.timeout(600)

PEOPLE = {"Colin_Powell": 8, "Tony_Blair": 8, "Jacques_Chirac": 6, "Serena_Williams": 5, "Vladimir_Putin": 5}
LONERS = ["Zico", "Aaron_Eckhart", "Abdullah_Gul"]  # one photo each: noise, not people


def facepipe(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args], capture_output=True, text=True, timeout=420, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def embedded(lfw_images: Path, tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("people")
    photos = root / "photos"
    labels = root / "labels.csv"
    rows = []
    for person, count in [*PEOPLE.items(), *((name, 1) for name in LONERS)]:
        for number in range(1, count + 1):
            source = lfw_images / person / f"{person}_{number:04d}.jpg"
            target = photos / f"{person}_{number}.jpg"  # one flat folder: names do not give the person away
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            rows.append({"uri": str(target), "person": person})
    with labels.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["uri", "person"])
        writer.writeheader()
        writer.writerows(rows)
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "embed", "--input", str(photos), "--tables", str(root / "tables")],
        capture_output=True,
        text=True,
        timeout=420,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return photos, root / "tables", labels


@pytest.mark.parametrize("method", ["graph", "hdbscan"])
def test_cluster_groups_the_people_and_eval_scores_it(embedded, method: str) -> None:
    _, tables, labels = embedded
    summary = facepipe("cluster", "--tables", str(tables), "--method", method)
    faces = read_table(str(tables), "faces")
    clusters, persons = read_table(str(tables), "clusters"), read_table(str(tables), "persons")
    assert summary["faces"] == faces.num_rows == clusters.num_rows
    assert set(clusters[S.FACE_ID].to_pylist()) == set(faces[S.FACE_ID].to_pylist())
    assert summary["clusters"] == persons.num_rows >= len(PEOPLE)
    assert sorted(persons[S.NUM_FACES].to_pylist(), reverse=True) == persons[S.NUM_FACES].to_pylist()
    for person in persons.to_pylist():
        members = [c for c in clusters.to_pylist() if c[S.CLUSTER_ID] == person[S.CLUSTER_ID]]
        assert person[S.NUM_FACES] == len(members)
        assert person[S.COVER_FACE] in {m[S.FACE_ID] for m in members}
        assert len({m[S.IMAGE_ID] for m in members}) == len(members), "two faces of one photo in one person"
    scores = facepipe("eval", "cluster", "--tables", str(tables), "--labels", str(labels))
    assert scores["labelled_photos"] == sum(PEOPLE.values()) + len(LONERS)
    assert scores["bcubed_f"] >= 0.95 and scores["pairwise_precision"] >= 0.95, scores
    assert set(scores) >= {
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f",
        "nmi",
        "clusters",
        "noise_fraction",
    }
    assert scores["clustering"]["merge_rule"] == summary["merge_rule"], "eval says what the defaults chose"
    if method == "graph":
        chosen = summary["merge_rule"]
        # 35 faces of 8 people: below cluster.small_scope_faces, the level is at most the model's
        assert chosen["source"] in ("calibrated", "model") and 0 < chosen["impostor_level"] <= 0.0875
        assert chosen["single_faces"] > chosen["large_groups"] > chosen["impostor_level"] and chosen["why"]


def test_cluster_on_ray_gives_the_same_clusters(embedded) -> None:
    _, tables, _ = embedded
    facepipe("cluster", "--tables", str(tables))
    here = read_table(str(tables), "clusters")
    summary = facepipe("cluster", "--tables", str(tables), "--set", "cluster.distributed=true")
    spread = read_table(str(tables), "clusters")
    assert summary["clusters"] == len(PEOPLE) and spread[S.RUN_ID][0] != here[S.RUN_ID][0]
    assert dict(zip(spread[S.FACE_ID].to_pylist(), spread[S.CLUSTER_ID].to_pylist())) == dict(
        zip(here[S.FACE_ID].to_pylist(), here[S.CLUSTER_ID].to_pylist())
    ), "a full recluster keeps the ids it overlaps"


def test_incremental_and_full_reclusters_keep_cluster_ids(embedded, lfw_images: Path) -> None:
    photos, tables, _ = embedded
    facepipe("cluster", "--tables", str(tables))
    before = {r[S.FACE_ID]: r[S.CLUSTER_ID] for r in read_table(str(tables), "clusters").to_pylist()}
    for person, count in PEOPLE.items():  # two more photos of everyone
        for number in (count + 1, count + 2):
            shutil.copy(lfw_images / person / f"{person}_{number:04d}.jpg", photos / f"{person}_{number}.jpg")
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "embed", "--input", str(photos), "--tables", str(tables)],
        capture_output=True,
        text=True,
        timeout=420,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = facepipe("cluster", "--tables", str(tables), "--incremental")
    assert summary["incremental"] is True
    after = {r[S.FACE_ID]: (r[S.CLUSTER_ID], r[S.URI]) for r in read_table(str(tables), "clusters").to_pylist()}
    assert all(after[face][0] == cluster for face, cluster in before.items() if cluster >= 0), (
        "an earlier cluster was renumbered"
    )
    added = [face for face in after if face not in before]
    assert len(added) >= 2 * len(PEOPLE)
    cluster_of_person = {}
    for face, cluster in before.items():
        if cluster >= 0:
            cluster_of_person.setdefault(Path(after[face][1]).stem.rsplit("_", 1)[0], cluster)
    person_of = lambda uri: Path(uri).stem.rsplit("_", 1)[0]
    new_photos = {after[face][1] for face in added}
    joined = [
        any(after[f][0] == cluster_of_person.get(person_of(uri)) for f in added if after[f][1] == uri)
        for uri in new_photos
    ]
    assert len(new_photos) == 2 * len(PEOPLE) and sum(joined) >= 0.8 * len(new_photos), (
        "new photos of known people join their clusters"
    )
    facepipe("cluster", "--tables", str(tables))  # a full recluster matches new clusters to old ones
    full = {r[S.FACE_ID]: r[S.CLUSTER_ID] for r in read_table(str(tables), "clusters").to_pylist()}
    kept = [full[face] == cluster for face, cluster in before.items() if cluster >= 0]
    assert sum(kept) >= 0.95 * len(kept)


def test_report_shows_every_person_with_faces_in_a_browser(embedded, tmp_path: Path) -> None:
    browser = Browser()
    _, tables, _ = embedded
    chosen = facepipe("cluster", "--tables", str(tables))["merge_rule"]
    persons, clusters = read_table(str(tables), "persons"), read_table(str(tables), "clusters")
    report = facepipe("report", "--tables", str(tables), "--output", str(tmp_path / "report"))
    assert report["people"] == persons.num_rows
    noise = clusters.filter(pc.equal(clusters["cluster_id"], -1)).num_rows
    assert report["noise_faces"] == noise > 0, "the loners' faces belong to no one"
    page = (tmp_path / "report" / "index.html").as_uri()
    dom = browser.dom(page)
    assert f"<h1>{persons.num_rows} people</h1>" in dom
    assert f"<p>{noise} faces belong to no one" in dom
    assert f"large groups from {chosen['large_groups']:.3f}" in dom, "the page says how alike faces must be"
    for person in persons.to_pylist():
        assert f'id="person-{person["cluster_id"]}" data-size="{person["num_faces"]}"' in dom
        assert f"thumbs/{person['cover_face_id']}.jpg" in dom
    assert browser.top_half_contrast(page, tmp_path / "shot.png") > 25, "the page shows pictures, not a blank page"
    thumbs = sorted((tmp_path / "report" / "thumbs").glob("*.jpg"))
    assert len(thumbs) >= sum(min(p["num_faces"], 24) for p in persons.to_pylist())
    assert Image.open(thumbs[0]).size == (112, 112)
