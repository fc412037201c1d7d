"""One run has one id: the run_id a job records in the runs table is the run_id of every row it wrote, in
every table, whether the job ran alone (embed, cluster, dedup, tags add, tags suggest) or as a step of
a nightly run; and no row anywhere carries an id the runs table does not know."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import add_tags, cluster, deduplicate, embed, load_config, nightly, read_table, suggest_tags
from pipeline import schema as S

pytestmark = pytest.mark.timeout(600)

PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"]
WRITTEN = {  # the tables each job writes whole or in part
    "embed": [S.IMAGES_TABLE, S.FACES_TABLE],
    "cluster": [S.CLUSTERS_TABLE, S.PERSONS_TABLE],
    "dedup": [S.DUPLICATES_TABLE, S.SIMILAR_TABLE],
    "tags": [S.SUGGESTIONS_TABLE],
}


def run_ids(tables: str, name: str) -> set[str]:
    return set(read_table(tables, name)[S.RUN_ID].to_pylist())


def test_the_runs_table_joins_every_row_its_runs_wrote(lfw_images: Path, tmp_path: Path) -> None:
    src, tables, config = tmp_path / "photos", str(tmp_path / "library"), load_config()
    src.mkdir()
    for person in PEOPLE:
        for number in (1, 2, 3):
            shutil.copy(lfw_images / person / f"{person}_{number:04d}.jpg", src)
    shutil.copy(src / "Tony_Blair_0001.jpg", src / "Tony_Blair_0001_copy.jpg")  # a duplicate group

    embedded = embed(str(src), tables, config)
    assert run_ids(tables, S.IMAGES_TABLE) == run_ids(tables, S.FACES_TABLE) == {embedded.run_id}
    clustered = cluster(tables, config)
    assert run_ids(tables, S.CLUSTERS_TABLE) == run_ids(tables, S.PERSONS_TABLE) == {clustered.run_id}
    found = deduplicate(tables, config)
    assert found.groups == 1 and run_ids(tables, S.DUPLICATES_TABLE) == {found.run_id}
    faces = read_table(tables, S.FACES_TABLE).to_pylist()
    tagged = [f for f in faces if f[S.URI].endswith("_0001.jpg")]
    tag_file = tmp_path / "tags.csv"
    tag_file.write_text("face_id,name\n" + "".join(f"{f[S.FACE_ID]},{f[S.URI].split('/')[-1][:-9]}\n" for f in tagged))
    add_tags(tables, str(tag_file), config)
    suggested = suggest_tags(tables, config)
    assert suggested.suggestions and run_ids(tables, S.SUGGESTIONS_TABLE) == {suggested.run_id}

    runs = {row[S.RUN_ID]: row for row in read_table(tables, S.RUNS_TABLE).to_pylist()}
    for job, result in {"embed": embedded, "cluster": clustered, "dedup": found, "tags": suggested}.items():
        assert [step[S.STEP_NAME] for step in runs[result.run_id][S.STEPS]] == [job]
        assert runs[result.run_id][S.EXIT_CODE] == 0 and runs[result.run_id][S.COMMAND].startswith("pipeline.")

    for person in PEOPLE:  # the next night: new photos of everyone, one photo gone
        shutil.copy(lfw_images / person / f"{person}_0004.jpg", src)
    (src / "Colin_Powell_0003.jpg").unlink()
    night = nightly(str(src), tables, config, full=True)
    assert [s["step"] for s in night.steps if s["status"] == "ok"] == [
        "embed",
        "index",
        "cluster",
        "dedup",
        "tags",
        "report",
        "maintain",
    ]
    images = read_table(tables, S.IMAGES_TABLE).to_pylist()
    new = {row[S.RUN_ID] for row in images if row[S.URI].endswith("_0004.jpg")}
    assert new == {night.run_id} and {row[S.RUN_ID] for row in images} == {embedded.run_id, night.run_id}
    for job in ("cluster", "dedup", "tags"):
        for name in WRITTEN[job]:  # written whole by the night (full); no photos here are alike but not copies
            assert run_ids(tables, name) == (set() if name == S.SIMILAR_TABLE else {night.run_id}), name

    runs = {row[S.RUN_ID] for row in read_table(tables, S.RUNS_TABLE).to_pylist()}
    assert night.run_id in runs
    for name in {name for names in WRITTEN.values() for name in names}:
        assert run_ids(tables, name) <= runs, name  # every row joins its run
