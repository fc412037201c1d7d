"""Tests for sizing the model actor pool from cluster resources (no Ray started)."""

from __future__ import annotations

import pytest

from pipeline.runtime.pool import READ_TASK_CPUS, ModelPool, size_model_pool


def _leaves_cpu_for_reads(pool: ModelPool, cluster_cpus: float) -> bool:
    return cluster_cpus - pool.actors * pool.cpus >= READ_TASK_CPUS


def test_two_cpus_without_gpu_get_two_fractional_actors() -> None:
    pool = size_model_pool(2, 0, use_gpu=False)

    assert pool == ModelPool(actors=2, cpus=0.75, gpus=0.0)
    assert 2 - pool.actors * pool.cpus >= 0.5


def test_one_cpu_gets_one_half_cpu_actor() -> None:
    pool = size_model_pool(1, 0, use_gpu=False)

    assert pool == ModelPool(actors=1, cpus=0.5, gpus=0.0)
    assert 1 - pool.actors * pool.cpus >= 0.5


def test_large_cpu_cluster_gets_one_actor_per_cpu() -> None:
    pool = size_model_pool(64, 0, use_gpu=False)

    assert pool.actors == 64 and pool.cpus == pytest.approx(63.5 / 64)
    assert _leaves_cpu_for_reads(pool, 64)


def test_gpu_cluster_gets_one_actor_per_gpu() -> None:
    pool = size_model_pool(16, 4, use_gpu=True)

    assert pool == ModelPool(actors=4, cpus=1.0, gpus=1.0)
    assert _leaves_cpu_for_reads(pool, 16)


def test_more_actors_than_gpus_share_them() -> None:
    pool = size_model_pool(16, 1, use_gpu=True, model_actors=4)

    assert pool == ModelPool(actors=4, cpus=1.0, gpus=0.25)
    assert _leaves_cpu_for_reads(pool, 16)


def test_gpus_present_but_unused_are_not_reserved() -> None:
    pool = size_model_pool(16, 4, use_gpu=False)

    assert pool.gpus == 0.0
    assert pool.actors == 16


@pytest.mark.parametrize("cpus", [1, 2, 3, 4, 8, 16, 64])
@pytest.mark.parametrize(("gpus", "use_gpu"), [(0, False), (1, True), (4, True)])
def test_default_pool_always_leaves_cpu_for_reads(cpus: int, gpus: int, use_gpu: bool) -> None:
    pool = size_model_pool(cpus, gpus, use_gpu=use_gpu)

    assert pool.actors >= 1 and pool.cpus > 0
    assert _leaves_cpu_for_reads(pool, cpus)


def test_explicit_actors_and_cpus_win() -> None:
    pool = size_model_pool(64, 0, use_gpu=False, model_actors=5, actor_cpus=4.0)

    assert pool == ModelPool(actors=5, cpus=4.0, gpus=0.0)


def test_explicit_actors_win_on_a_gpu_cluster() -> None:
    pool = size_model_pool(16, 4, use_gpu=True, model_actors=2)

    assert pool.actors == 2 and pool.gpus == 1.0


def test_pool_that_leaves_no_cpu_for_reads_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"ray\.model_actors"):
        size_model_pool(2, 0, use_gpu=False, model_actors=2, actor_cpus=1.0)


def test_too_many_actor_cpus_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"ray\.actor_cpus"):
        size_model_pool(8, 0, use_gpu=False, model_actors=1, actor_cpus=8.0)


def test_no_more_actors_than_model_batches() -> None:
    pool = ModelPool(actors=4, cpus=0.5, gpus=0.0)

    assert pool.actors_for(rows=1, batch_size=32) == 1
    assert pool.actors_for(rows=65, batch_size=32) == 3
    assert pool.actors_for(rows=10_000, batch_size=32) == 4
    assert pool.actors_for(rows=0, batch_size=32) == 1
