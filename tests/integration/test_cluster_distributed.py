"""The graph method spread over a local multi-node Ray cluster gives the one-machine clusters, and
survives losing a node."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import cluster_faces
from pipeline.people.linkage import MergeRule, average_linkage, grouped_linkage, undirected_edges
from pipeline.runtime.ray_tasks import RayTasks
from pipeline.search.index_settings import IndexSettings
from pipeline.search.knn_graph import knn_graph

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def faces():
    data = face_like_embeddings(150, faces_per_identity=(1, 40), noise_faces=200, seed=4)
    return data.vectors, np.where(data.labels >= 0, data.labels, -1 - np.arange(len(data.labels)))


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def test_sharded_graph_equals_one_index(two_nodes, faces) -> None:
    vectors, _ = faces
    assert len(vectors) > 3000, "three shards of 1,000 faces or more"
    one = knn_graph(vectors, 30, IndexSettings(), floor=0.35)
    sharded = knn_graph(vectors, 30, IndexSettings(), floor=0.35, shard_faces=1000, tasks=RayTasks())
    assert np.mean(one[1] == sharded[1]) > 0.999  # exact search both ways: only float ties may differ
    np.testing.assert_allclose(np.sort(one[0], axis=1), np.sort(sharded[0], axis=1), atol=1e-5)
    assert not np.any(sharded[1] == np.arange(len(vectors))[:, None]), "a face is never its own neighbour"


def test_linkage_by_components_equals_one_linkage(two_nodes, faces) -> None:
    vectors, _ = faces
    a, b, similarities = undirected_edges(*knn_graph(vectors, 30))
    rule = MergeRule(single=0.5, group=0.35)
    candidates = similarities >= rule.group
    whole = average_linkage(a[candidates], b[candidates], vectors, rule)
    split = grouped_linkage(a, b, similarities, vectors, rule, RayTasks(), groups=3)
    assert _same_partition(whole, split)
    assert len(np.unique(whole)) < len(vectors) / 2, "the graph has clusters to find"


def test_distributed_graph_method_finds_the_same_people(two_nodes, faces) -> None:
    vectors, truth = faces
    photos = np.arange(len(vectors)).astype(str)
    here = cluster_faces(vectors, photos, ClusterSettings()).labels
    spread = cluster_faces(vectors, photos, ClusterSettings(shard_faces=1000), tasks=RayTasks()).labels
    assert np.array_equal(here, spread), "the same clusters, numbered alike"
    assert clustering_metrics(spread, truth)["bcubed_f"] > 0.95


@pytest.mark.timeout(150)
def test_a_node_lost_mid_graph_costs_nothing() -> None:
    """A worker node dies while the shards are built or searched: Ray retries its tasks and rebuilds
    the shards it held from their lineage; the graph comes out whole (before shards were task arguments, a search
    task waiting on a lost shard hung the job)."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    try:
        vectors = face_like_embeddings(2400, seed=2).vectors  # 61k faces: 4 exact shards, about 10 s of search
        finished, killed_mid_run = threading.Event(), []

        def kill_a_worker() -> None:
            time.sleep(1.5)
            killed_mid_run.append(not finished.is_set())
            nodes.remove_node(workers[0], allow_graceful=False)

        killer = threading.Thread(target=kill_a_worker)
        killer.start()
        sharded = knn_graph(vectors, 30, IndexSettings(), floor=0.35, shard_faces=20_000, tasks=RayTasks())
        finished.set()
        killer.join()
        assert killed_mid_run == [True], "the graph was done before the node was lost"
        exact = knn_graph(vectors, 30, IndexSettings(kind="flat"))  # the shards are exact too (under 50k faces)
        assert np.mean(exact[1] == sharded[1]) > 0.999
    finally:
        ray.shutdown()
        nodes.shutdown()
