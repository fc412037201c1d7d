"""`facepipe embed` end to end on a local Ray: real photos, every bad input, incremental reruns, crashes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from jobs.cli import main
from tests.invariants import check_tables
from tests.photos import BAD_INPUTS, ODD_FORMATS, copy_lfw, lfw_face, write_bad_inputs, write_odd_formats

pytestmark = pytest.mark.timeout(420)


def current_photos(src: Path) -> dict[str, bytes]:
    suffixes = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
    return {str(p): p.read_bytes() for p in src.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)}


@pytest.fixture
def source(tmp_path: Path, lfw_images: Path) -> Path:
    src = tmp_path / "photos"
    copy_lfw(lfw_images, src, 30)
    face = lfw_face(lfw_images)
    others = [
        lfw_face(lfw_images, p, 1) for p in ("Abdullah_Gul", "Adam_Sandler", "Al_Gore", "Alan_Greenspan", "Ali_Naimi")
    ]
    write_bad_inputs(src / "bad", face)
    write_odd_formats(src / "odd", face, others)
    (src / "notes.txt").write_text("not listed: no image extension")
    return src


def embed(src: Path, dst: Path, capsys, *extra: str) -> str:
    """The summary a person sees (stderr) of an embed run that exited 0; its JSON (stdout) says the same."""
    code = main(["embed", "--input", str(src), "--tables", str(dst), "--set", "output.commit_every=16", *extra])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    result = json.loads(printed.out.strip().splitlines()[-1])
    assert f"photos listed {result['listed']}: new {result['new']}, changed {result['changed']}" in printed.err
    return printed.err


def test_a_small_run_in_this_process_writes_what_ray_writes(source: Path, tmp_path: Path, capsys):
    """Below ray.in_process_below, with no cluster to join, the job never starts Ray; its tables hold
    the rows a run on Ray writes (statuses, sizes, faces, embeddings), every input once."""
    import ray

    assert not ray.is_initialized()
    here, on_ray = tmp_path / "here", tmp_path / "on_ray"
    assert "photos/s (in process)" in embed(source, here, capsys)
    assert not ray.is_initialized(), "a small run started Ray"
    try:
        assert "photos/s (on Ray)" in embed(source, on_ray, capsys, "--set", "ray.in_process_below=0")
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    photos = current_photos(source)
    (images, faces), (ray_images, ray_faces) = check_tables(str(here), photos), check_tables(str(on_ray), photos)
    fields = ("status", "num_faces", "width", "height", "pdq", "sha256")

    def outcome(row: dict) -> list:
        return [*(row[f] for f in fields), (row["error"] or "").split(":")[0]]  # PIL's messages hold addresses

    assert {u: outcome(r) for u, r in images.items()} == {u: outcome(r) for u, r in ray_images.items()}
    pairs = {(f["uri"], f["face_index"]): f for f in ray_faces}
    assert len(faces) == len(ray_faces) > 30
    for face in faces:
        twin = pairs[(face["uri"], face["face_index"])]
        assert face["face_id"] == twin["face_id"]
        assert np.allclose(face["bbox"], twin["bbox"], atol=1e-3)
        assert float(np.dot(face["embedding"], twin["embedding"])) > 0.9999


def test_embed_then_add_change_remove(source: Path, tmp_path: Path, lfw_images: Path, local_ray, capsys):
    dst = tmp_path / "tables"
    out = embed(source, dst, capsys)
    photos = current_photos(source)
    assert f"photos listed {len(photos)}: new {len(photos)}" in out
    images, faces = check_tables(str(dst), photos)
    for name, (status, reason) in BAD_INPUTS.items():
        row = images[str(source / "bad" / name)]
        assert row["status"] == status, (name, row)
        assert (row["error"] or "").split(":")[0] == (reason or ""), (name, row)
    for name in ODD_FORMATS:
        assert images[str(source / "odd" / name)]["status"] == "ok", name
    assert images[str(source / "odd" / "group.jpg")]["num_faces"] >= 5
    rotated = images[str(source / "odd" / "exif_rotated.jpg")]
    assert (rotated["width"], rotated["height"]) == (250, 310)
    lfw_rows = [row for uri, row in images.items() if "/bad/" not in uri and "/odd/" not in uri]
    assert all(row["status"] == "ok" for row in lfw_rows)
    first_run = {uri: row["run_id"] for uri, row in images.items()}

    # add 5, change 2 (other bytes under the same uri), remove 3 (one of them a bad input)
    copy_lfw(lfw_images, source, 5, start=100)
    lfw_uris = sorted(uri for uri in first_run if "/bad/" not in uri and "/odd/" not in uri)
    changed = lfw_uris[:2]
    for uri, donor in zip(changed, sorted(lfw_images.glob("Zico/*.jpg"))[:2]):
        shutil.copy(donor, uri)
        os.utime(uri, (time.time() + 5, time.time() + 5))
    removed = [lfw_uris[2], lfw_uris[3], str(source / "bad" / "empty.jpg")]
    for uri in removed:
        os.remove(uri)
    out = embed(source, dst, capsys)
    photos = current_photos(source)
    listed = f"photos listed {len(photos)}: new 5, changed 2, retried 0, unchanged {len(photos) - 7}, forgotten 0"
    assert f"{listed}; removed 3" in out
    images, faces = check_tables(str(dst), photos)
    assert not set(removed) & set(images)
    for uri, row in images.items():
        if uri in first_run and uri not in changed:
            assert row["run_id"] == first_run[uri], f"{uri} was processed again though unchanged"
        else:
            assert row["run_id"] != next(iter(first_run.values())), uri

    out = embed(source, dst, capsys)
    assert f"unchanged {len(photos)}, forgotten 0; removed 0" in out and "processed 0" in out
    check_tables(str(dst), photos)


def test_crash_mid_run_then_rerun_completes(tmp_path: Path, lfw_images: Path, local_ray):
    src, dst = tmp_path / "photos", tmp_path / "tables"
    copy_lfw(lfw_images, src, 60, start=200)
    command = [
        sys.executable,
        "-m",
        "jobs.cli",
        "embed",
        "--input",
        str(src),
        "--tables",
        str(dst),
        "--set",
        "output.commit_every=8",
        "--set",
        "ray.model_batch_size=8",
        "--set",
        "ray.read_batch_size=8",
        "--set",
        "ray.in_process_below=0",  # on Ray, whose leftover state from the killed run must not trap the rerun
        "--set",
        "output.lease_ttl_s=3",  # the killed run holds DST until its lease expires: 3 s after its last renewal
    ]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = dst / "images" / "_delta_log"
    deadline = time.monotonic() + 240
    while len(list(log.glob("*.json"))) < 3:  # creation + at least two batch commits
        assert job.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "no commit within 240 s"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    time.sleep(3.5)  # the killed run's lease expires
    from pipeline.io.tables import read_table

    partial = read_table(str(dst), "images")
    assert 0 < partial.num_rows < 60
    faces = read_table(str(dst), "faces")
    assert set(faces["uri"].to_pylist()) <= set(partial["uri"].to_pylist())
    # The killed run is also a cluster that "died without cleaning up": the rerun must start its own
    # Ray rather than follow a leftover ray_current_cluster file to a dead address.
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_TMPDIR": str(ray_tmp)}
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"unchanged {partial.num_rows}" in done.stderr
    check_tables(str(dst), current_photos(src))


def test_configuration_mistakes_fail_at_once(tmp_path: Path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    assert main(["embed", "--input", str(tmp_path / "nowhere"), "--tables", str(tmp_path / "o")]) == 2
    assert "nowhere is not a readable folder" in capsys.readouterr().err
    assert main(["embed", "--input", str(src), "--tables", str(tmp_path / "o"), "--set", "models.detectr=yunet"]) == 2
    assert "models.detectr" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["embed", "--input", str(src), "--tables", str(blocker / "tables")]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert main(["embed", "--input", str(src), "--tables", str(tmp_path / "o"), "--set", "models.device=cuda"]) == 2
    assert "models.device" in capsys.readouterr().err
