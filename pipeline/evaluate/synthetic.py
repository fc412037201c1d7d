"""Seeded synthetic face-like embeddings: identities as directions on the unit sphere, faces scattered
around them, plus faces of nobody. For index, clustering and mining tests and benchmarks at scales
no photo collection here reaches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOISE_LABEL = -1


@dataclass(frozen=True)
class SyntheticFaces:
    """L2-normalised float32 vectors (n x dim) and the identity of each (NOISE_LABEL for nobody)."""

    vectors: np.ndarray
    labels: np.ndarray


def face_like_embeddings(
    identities: int,
    dim: int = 128,
    faces_per_identity: tuple[int, int] = (1, 50),
    noise_faces: int = 0,
    spread: tuple[float, float] = (0.6, 1.0),
    seed: int = 0,
    chunk: int = 262_144,
) -> SyntheticFaces:
    """Faces of ``identities`` people, each with a count drawn uniformly from ``faces_per_identity``
    (inclusive), plus ``noise_faces`` faces of people seen once, shuffled.

    A face is its identity's direction plus Gaussian noise of norm about ``s`` (``s`` drawn per identity
    from ``spread``), normalised: two faces of one person then have cosine about 1 / (1 + s^2) (0.5 to
    0.75, like real embedders' genuine pairs) and faces of different people about 0.
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(faces_per_identity[0], faces_per_identity[1] + 1, size=identities)
    labels = np.concatenate([np.repeat(np.arange(identities), counts), np.full(noise_faces, NOISE_LABEL)])
    labels = labels[rng.permutation(len(labels))]
    centres = rng.standard_normal((identities, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    scales = rng.uniform(spread[0], spread[1], size=identities).astype(np.float32) / np.sqrt(dim)
    vectors = np.empty((len(labels), dim), np.float32)
    for start in range(0, len(labels), chunk):  # bounded temporaries at millions of faces
        part = labels[start : start + chunk]
        block = rng.standard_normal((len(part), dim), dtype=np.float32)
        known = part != NOISE_LABEL
        block[known] = centres[part[known]] + block[known] * scales[part[known], None]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[start : start + len(part)] = block
    return SyntheticFaces(vectors, labels)
