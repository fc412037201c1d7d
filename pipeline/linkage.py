"""Average linkage along a sparse similarity graph, without an n x n matrix."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sparse


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


def _edge_matrix(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((values, (rows, cols)), shape=(n, n))


def average_linkage(a: np.ndarray, b: np.ndarray, similarities: np.ndarray, nodes: int, similarity: float) -> np.ndarray:
    """Average linkage along a sparse graph, cut where the mean similarity falls below ``similarity``;
    returns a cluster number per node. The graph is ``nodes`` faces and undirected edges (a, b) with
    their similarities. Two clusters' linkage is the mean similarity of the edges between them (with
    every edge present: classic average linkage).

    Written here (reciprocal agglomerative clustering, as in Google's parallel HAC work): each round
    merges every pair of clusters that are each other's best neighbour above the threshold, then
    coarsens the edge sums and counts with one sparse product. Average linkage is reducible, so this
    gives the same tree as merging one pair at a time, in O(edges) memory and a few dozen
    vectorised rounds; scikit-learn's connectivity-constrained version took 7.4 GB and 100 s for
    100k faces.
    """
    totals = _edge_matrix(np.r_[similarities, similarities], np.r_[a, b], np.r_[b, a], nodes)
    counts = _edge_matrix(np.ones(2 * len(similarities)), np.r_[a, b], np.r_[b, a], nodes)
    cluster_of = np.arange(nodes)
    size = nodes
    while totals.nnz:
        linkage = totals.multiply(counts.power(-1)).tocsr()  # mean similarity per cluster pair
        linkage.data += 2.0  # > 0 on every edge: argmax never picks a non-edge
        best = np.asarray(linkage.argmax(axis=1)).ravel()
        best_value = np.asarray(linkage.max(axis=1).todense()).ravel() - 2.0
        ids = np.arange(size)
        mutual = (best[best] == ids) & (best_value >= similarity) & (ids < best)
        if not mutual.any():
            break
        target = ids.copy()
        target[best[mutual]] = ids[mutual]  # each merged pair keeps its lower id
        kept, renumbered = np.unique(target, return_inverse=True)
        assign = sparse.csr_matrix((np.ones(size), (ids, renumbered)), shape=(size, len(kept)))
        totals = (assign.T @ totals @ assign).tocsr()
        counts = (assign.T @ counts @ assign).tocsr()
        for matrix in (totals, counts):  # edges inside a cluster are no longer edges
            matrix.setdiag(0)
            matrix.eliminate_zeros()
        cluster_of = renumbered[cluster_of]
        size = len(kept)
    return cluster_of


def graph_average_linkage(similarities: np.ndarray, neighbours: np.ndarray, similarity: float) -> np.ndarray:
    """Average linkage of n faces along their kNN lists (n x k similarities and neighbour rows)."""
    a, b, sims = undirected_edges(similarities, neighbours)
    return average_linkage(a, b, sims, len(neighbours), similarity)
