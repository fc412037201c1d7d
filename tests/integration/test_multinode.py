"""The embed job on a local three-node Ray cluster, with a worker node killed mid-run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.ingest.embed_job import embed
from tests.invariants import check_tables
from tests.photos import copy_lfw

pytestmark = pytest.mark.timeout(480)


@pytest.fixture
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    yield nodes, workers
    ray.shutdown()
    nodes.shutdown()


def test_worker_node_killed_mid_run(cluster, tmp_path: Path, lfw_images: Path):
    nodes, workers = cluster
    src, dst = tmp_path / "photos", tmp_path / "tables"
    copy_lfw(lfw_images, src, 80, start=1000)
    config = load_config(
        overrides=[
            "output.commit_every=8",
            "ray.read_batch_size=4",
            "ray.model_batch_size=4",
            "ray.model_actors=2",
            "ray.actor_cpus=0.5",
        ]
    )
    log = dst / "images" / "_delta_log"

    def kill_a_worker_after_first_commit() -> None:
        deadline = time.monotonic() + 200
        while len(list(log.glob("*.json"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        nodes.remove_node(workers[0], allow_graceful=False)

    killer = threading.Thread(target=kill_a_worker_after_first_commit)
    killer.start()
    summary = embed(str(src), str(dst), config)
    killer.join()
    assert len(list(log.glob("*.json"))) >= 3, "the node was killed after the job had finished"
    assert summary.missing == 0 and summary.processed == 80
    photos = {str(p): p.read_bytes() for p in src.rglob("*.jpg")}
    images, _ = check_tables(str(dst), photos)
    assert all(row["status"] == "ok" for row in images.values())
