"""The closed-form index choice for sizes and memory budgets."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.search.index_choice import FLAT_MAX_VECTORS, ivf_lists, plan_index

GiB = 1024**3


@pytest.mark.parametrize(
    ("vectors", "dim", "budget", "kind", "factory"),
    [
        (1_000, 128, GiB, "flat", "Flat"),  # small: exact search
        (FLAT_MAX_VECTORS, 512, GiB, "flat", "Flat"),
        (200_000, 128, GiB, "hnsw", "HNSW32,Flat"),  # graph fits: 200k * (512 + 269) bytes
        (200_000, 128, 140 * 1024**2, "ivf_flat", "IVF2048,PQ64x4fs,RFlat"),  # no graph: 156 MB > 140 MiB
        (500_000, 128, 4 * GiB, "hnsw", "HNSW32,Flat"),
        (1_000_000, 128, 4 * GiB, "ivf_flat", "IVF4096,PQ64x4fs,RFlat"),  # fast-scan shortlist, exact re-ranking
        (1_000_000, 128, 600 * 1024**2, "ivf_flat", "IVF4096,PQ64x4fs,RFlat"),  # 552 bytes a vector
        (1_000_000, 128, 500 * 1024**2, "ivf_pq", "OPQ32,IVF4096,PQ32,Refine(SQ8)"),  # raw vectors do not fit
        (1_000_000, 128, 300 * 1024**2, "ivf_pq", "OPQ32,IVF4096,PQ32,Refine(SQ8)"),  # 168 bytes a vector
        (1_000_000, 128, 100 * 1024**2, "ivf_pq", "OPQ64,IVF4096,PQ64"),  # no room to re-rank
        (1_000_000, 128, 50 * 1024**2, "ivf_pq", "OPQ32,IVF4096,PQ32"),  # 40 bytes a vector
        (30_000_000, 128, 64 * GiB, "ivf_flat", "IVF16384,PQ64x4fs,RFlat"),
        (100_000_000, 512, 8 * GiB, "ivf_pq", "OPQ64,IVF32768,PQ64"),
        (10_000_000, 512, 8 * GiB, "ivf_pq", "OPQ64,IVF16384,PQ64,Refine(SQ8)"),
    ],
)
def test_auto_choice_follows_size_and_budget(vectors: int, dim: int, budget: int, kind: str, factory: str) -> None:
    plan = plan_index(vectors, dim, budget)
    assert (plan.kind, plan.factory) == (kind, factory)
    assert plan.bytes_estimate <= budget


def test_every_choice_fits_its_budget_and_bigger_budgets_never_choose_a_lossier_index() -> None:
    order = ["ivf_pq", "ivf_flat", "hnsw", "flat"]
    for vectors in (10_000, 100_000, 1_000_000, 5_000_000):
        ranks = []
        for budget in (30 * 1024**2, 100 * 1024**2, 1 * GiB, 8 * GiB, 64 * GiB):
            try:
                plan = plan_index(vectors, 128, budget)
            except ConfigError:
                continue
            assert plan.bytes_estimate <= budget
            ranks.append((order.index(plan.kind), plan.refine, plan.pq_m))  # less lossy kind, re-ranked, longer code
        assert ranks == sorted(ranks), f"{vectors} vectors: {ranks}"


def test_a_budget_nothing_fits_in_says_how_much_is_needed() -> None:
    with pytest.raises(ConfigError, match="smallest needs about"):
        plan_index(100_000_000, 128, 100 * 1024**2)


def test_a_forced_kind_is_kept_with_its_parameters_from_the_rules() -> None:
    assert (
        plan_index(1_000, 128, GiB, kind="ivf_flat").nlist == ivf_lists(1_000) == 25
    )  # 128 wanted, 1000 // 39 trainable
    assert plan_index(500_000, 128, GiB, kind="flat").factory == "Flat"
    with pytest.raises(ConfigError, match="index.kind"):
        plan_index(10, 128, GiB, kind="lsh")


def test_lists_grow_with_the_square_root_and_stay_trainable() -> None:
    assert ivf_lists(1_000_000) == 4096  # 4 * sqrt(1e6) = 4000
    assert ivf_lists(200_000) == 2048
    assert ivf_lists(100) == 2  # 100 // 39: every list gets its 39 training points
