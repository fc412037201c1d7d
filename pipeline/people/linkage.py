"""Average linkage along a sparse similarity graph, without an n x n matrix, in one piece or split
into independent groups of components run as tasks (in this process, or on Ray for large graphs)."""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from scipy.sparse.csgraph import connected_components

from pipeline.runtime.tasks import Tasks, task_report

log = logging.getLogger(__name__)


def undirected_edges(similarities: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kNN lists (row i: face i's neighbours) as undirected edges (a < b, each pair once) with
    their similarity."""
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n), k)
    cols, sims = neighbours.ravel(), similarities.ravel().astype(np.float64)
    keep = (cols >= 0) & (cols != rows)
    rows, cols, sims = rows[keep], cols[keep], sims[keep]
    lower, upper = np.minimum(rows, cols), np.maximum(rows, cols)
    span = int(upper.max(initial=0)) + 1
    pairs, first = np.unique(lower * span + upper, return_index=True)
    return pairs // span, pairs % span, sims[first]


@dataclass(frozen=True)
class MergeRule:
    """When two groups of faces merge: the mean cosine similarity of all pairs of their faces must
    reach ``group + (single - group) / sqrt(m * n)`` for groups of m and n faces: ``single`` for two
    single faces, falling towards ``group`` as the groups grow (the mean of more pairs of two
    different people strays less from their typical similarity)."""

    single: float
    group: float

    def threshold(self, m: np.ndarray, n: np.ndarray) -> np.ndarray:
        return self.group + (self.single - self.group) / np.sqrt(m * n)


PAIRS_PER_STEP = 1 << 18  # candidate pairs scored at once (bounds the temporaries: 2 x 256k x d floats)


def _pair_means(means: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The dot product of rows[i] and cols[i] of ``means``, for every candidate pair."""
    scores = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), PAIRS_PER_STEP):
        stop = start + PAIRS_PER_STEP
        scores[start:stop] = np.einsum("ij,ij->i", means[rows[start:stop]], means[cols[start:stop]])
    return scores


def _score_pairs(linkage: sparse.csr_matrix, rows: np.ndarray, means: np.ndarray, stale: np.ndarray) -> None:
    """Set the entries of the symmetric ``linkage`` (sorted indices; ``rows``: each entry's row) that
    touch a ``stale`` group to their pair's mean similarity + 2, scoring each pair once."""
    cols = linkage.indices
    redo = np.flatnonzero((stale[rows] | stale[cols]) & (rows < cols))
    scores = _pair_means(means, rows[redo], cols[redo]) + 2.0
    keys = rows.astype(np.int64) * linkage.shape[1] + cols  # ascending: rows ascend, columns within a row too
    mirror = np.searchsorted(keys, cols[redo].astype(np.int64) * linkage.shape[1] + rows[redo])
    linkage.data[redo] = scores
    linkage.data[mirror] = scores


def _best_per_row(linkage: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column, value) of each row's largest entry (the lowest column among equals; -1, 0 for empty rows),
    vectorised (scipy's argmax loops over the rows in Python)."""
    size = linkage.shape[0]
    counts = np.diff(linkage.indptr)
    best, value = np.full(size, -1), np.zeros(size, linkage.data.dtype)
    filled = np.flatnonzero(counts)
    value[filled] = np.maximum.reduceat(linkage.data, linkage.indptr[filled])
    at_max = np.flatnonzero(linkage.data == value[rows])
    first = np.r_[True, rows[at_max][1:] != rows[at_max][:-1]]
    best[rows[at_max][first]] = linkage.indices[at_max][first]
    return best, value


def average_linkage(a: np.ndarray, b: np.ndarray, vectors: np.ndarray, rule: MergeRule) -> np.ndarray:
    """Average linkage of unit ``vectors`` along candidate edges (a, b); returns a cluster number per
    face. Two groups' linkage is the mean cosine similarity of all pairs of their faces, computed
    exactly from the groups' mean vectors (for unit vectors, the mean of all m x n pair similarities
    is mean_A . mean_B); the edges (the kNN graph) only say which groups may merge. Groups merge
    while ``rule`` allows it.

    (The mean of the graph's edges alone is not the mean of all pairs: a kNN graph holds each face's
    most similar faces, so between two people it keeps only their most alike pairs; on pins that
    mean merged people at 0.40, where the mean of all pairs kept them apart down to 0.30.)

    Written here (reciprocal agglomerative clustering, as in Google's parallel HAC work): each round
    merges every pair of groups that are each other's best candidate and pass the rule, then coarsens
    the candidate pairs and the groups' vector sums with one sparse product each; only the pairs of
    groups that merged are scored again. Memory stays linear in the edges; scikit-learn's
    connectivity-constrained version took 7.4 GB and 100 s for 100k faces.
    """
    nodes = len(vectors)
    both = np.r_[a, b], np.r_[b, a]
    # the mean similarity of every candidate pair of groups, + 2 (> 0: argmax never picks a non-candidate)
    linkage = sparse.csr_matrix((np.ones(len(both[0]), np.float32), both), shape=(nodes, nodes))
    linkage.sum_duplicates()  # also sorts the indices
    sums, sizes = np.asarray(vectors, np.float32), np.ones(nodes, np.float32)
    cluster_of, size = np.arange(nodes), nodes
    stale = np.ones(nodes, bool)  # groups whose pairs need scoring: every one at first, then the merged ones
    while linkage.nnz:
        rows = np.repeat(np.arange(size), np.diff(linkage.indptr))
        _score_pairs(linkage, rows, sums / sizes[:, None], stale)
        best, best_value = _best_per_row(linkage, rows)
        ids = np.arange(size)
        mutual = (best >= 0) & (best[best] == ids) & (ids < best)
        mutual &= best_value - 2.0 >= rule.threshold(sizes, sizes[best])
        if not mutual.any():
            break
        target = ids.copy()
        target[best[mutual]] = ids[mutual]  # each merged pair keeps its lower id
        kept, renumbered = np.unique(target, return_inverse=True)
        assign = sparse.csr_matrix((np.ones(size, np.float32), (ids, renumbered)), shape=(size, len(kept)))
        linkage = (assign.T @ linkage @ assign).tocsr()  # pairs of unmerged groups keep their score
        linkage.setdiag(0)  # pairs inside a group are no longer candidates
        linkage.eliminate_zeros()
        linkage.sort_indices()
        sums, sizes = assign.T @ sums, assign.T @ sizes
        stale = np.zeros(len(kept), bool)
        stale[renumbered[ids[mutual]]] = True
        cluster_of = renumbered[cluster_of]
        size = len(kept)
    return cluster_of


@dataclass(frozen=True)
class LinkageGroup:
    """Whole components of the candidate graph: their faces (ascending), the candidate edges among
    them numbered within the group (face i of the group is ``nodes[i]``), and their vectors."""

    nodes: np.ndarray
    a: np.ndarray
    b: np.ndarray
    vectors: np.ndarray


def linkage_groups(
    a: np.ndarray, b: np.ndarray, similarities: np.ndarray, vectors: np.ndarray, rule: MergeRule, groups: int
) -> list[LinkageGroup]:
    """The candidate graph cut into up to ``groups`` independent average-linkage problems of similar
    edge counts.

    The candidates are the graph's edges at or above ``rule.group``, the lowest threshold the rule
    ever asks (the mean of all pairs of two groups reaches it only when some pair does, and the kNN
    graph holds each face's most similar pairs). Groups merge only along candidates, so the connected
    components of the candidates never share a cluster: whole components are packed, largest first
    onto the lightest group, and ``average_linkage`` of each group gives the clusters of the whole
    graph exactly (local numbering keeps the global order, so ties break alike). Faces without a
    candidate are left out: they stay alone."""
    nodes = len(vectors)
    strong = similarities >= rule.group
    a, b = a[strong], b[strong]
    _, component = connected_components(
        sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(nodes, nodes)), directed=False
    )
    load = np.bincount(component[a], minlength=component.max(initial=-1) + 1)
    group_of = np.full(len(load), -1)
    lightest = [(0, g) for g in range(groups)]
    for c in np.argsort(-load, kind="stable")[: int(np.sum(load > 0))]:
        weight, g = heapq.heappop(lightest)
        group_of[c] = g
        heapq.heappush(lightest, (weight + int(load[c]), g))
    edge_group, node_group = group_of[component[a]], group_of[component]
    cut = []
    for g in range(groups):
        members, mine = np.flatnonzero(node_group == g), edge_group == g
        if len(members):
            cut.append(
                LinkageGroup(
                    members, np.searchsorted(members, a[mine]), np.searchsorted(members, b[mine]), vectors[members]
                )
            )
    return cut


def join_groups(nodes: int, groups: list[LinkageGroup], group_labels: list[np.ndarray]) -> np.ndarray:
    """One cluster number per node from each group's ``average_linkage`` labels (nodes in no group alone)."""
    labels, offset = np.arange(nodes), nodes
    for group, local in zip(groups, group_labels):
        labels[group.nodes] = offset + local
        offset += len(group.nodes)
    return labels


def _link(threads: int, group: LinkageGroup, rule: MergeRule) -> tuple[np.ndarray, dict]:
    started = time.perf_counter()
    labels = average_linkage(group.a, group.b, group.vectors, rule)
    return labels, task_report(started, faces=len(group.nodes), edges=len(group.a))


def grouped_linkage(
    a: np.ndarray,
    b: np.ndarray,
    similarities: np.ndarray,
    vectors: np.ndarray,
    rule: MergeRule,
    tasks: Tasks,
    groups: int | None = None,
) -> np.ndarray:
    """``average_linkage`` of the faces along their kNN graph (edges a, b and their similarities) as
    ``tasks``, one per group of the candidate graph's components (up to ``groups``, default one per
    task that can run at once): the same clusters however many, numbered differently."""
    cut = linkage_groups(a, b, similarities, vectors, rule, groups or tasks.cpus)
    log.info(
        "linkage: %d faces with a candidate >= %.3f in %d tasks", sum(len(g.nodes) for g in cut), rule.group, len(cut)
    )
    results = tasks.get([tasks.submit(_link, group, rule) for group in cut])
    log.info("linkage tasks: %s", [report for _, report in results])
    return join_groups(len(vectors), cut, [labels for labels, _ in results])
