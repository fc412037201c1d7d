"""Open-set identification at a target false-positive identification rate, on seeded draws of a
labelled set: galleries of people enrolled from one photo each, probed with another photo of each of
them and with one photo of each of a number of people never enrolled (strangers), decided at the
threshold the model's FAR curve gives for the gallery's size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.similarity.far_curves import FarCurve
from pipeline.similarity.thresholds import identification_threshold

GALLERY_SIZES = (10, 100, 1000)
FPIRS = (1e-2, 1e-3)


def _draw(
    photos_of: Mapping[str, Sequence[str]],
    embeddings: Mapping[str, np.ndarray],
    gallery_size: int,
    strangers: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One draw: ``gallery_size`` people with two or more photos, one photo of each enrolled and another
    probed; ``strangers`` people not enrolled, one photo of each probed. Returns the enrolled people's
    best similarities, whether their best match is themselves, and the strangers' best similarities."""
    enrolled = rng.choice(sorted(p for p, photos in photos_of.items() if len(photos) >= 2), gallery_size, replace=False)
    enrolled_photo, probe_photo = zip(*(rng.choice(photos_of[person], 2, replace=False) for person in enrolled))
    others = sorted(set(photos_of) - set(enrolled))
    chosen = rng.choice(others, strangers, replace=False)
    stranger_photos = [rng.choice(photos_of[person]) for person in chosen]
    templates = np.stack([embeddings[uri] for uri in enrolled_photo])
    genuine = np.stack([embeddings[uri] for uri in probe_photo]) @ templates.T
    impostor = np.stack([embeddings[uri] for uri in stranger_photos]) @ templates.T
    return genuine.max(1), genuine.argmax(1) == np.arange(gallery_size), impostor.max(1)


def identification_at_fpir(
    photos_of: Mapping[str, Sequence[str]],
    embeddings: Mapping[str, np.ndarray],
    curve: FarCurve,
    gallery_size: int,
    fpirs: Sequence[float],
    draws: int,
    rng: np.random.Generator,
    strangers: int | None = None,
) -> dict | None:
    """DIR (an enrolled person's probe named, correctly) and measured FPIR (strangers named) at the
    threshold identification_threshold(curve, gallery_size, fpir) for each of ``fpirs``, pooled over
    ``draws`` draws (see _draw) of at most ``strangers`` strangers (all others when None).
    ``photos_of``: person -> photos with an embedding (uri -> unit vector). None when the set has
    fewer than ``gallery_size`` people with two photos, or no one else."""
    others = len(photos_of) - gallery_size
    if sum(len(photos) >= 2 for photos in photos_of.values()) < gallery_size or others < 1:
        return None
    drawn = [_draw(photos_of, embeddings, gallery_size, min(strangers or others, others), rng) for _ in range(draws)]
    genuine, correct, impostor = (np.concatenate(parts) for parts in zip(*drawn))
    figures: dict = {
        "gallery_people": gallery_size,
        "draws": draws,
        "genuine_probes": int(genuine.size),
        "stranger_probes": int(impostor.size),
        "rank1": float(np.mean(correct)),
    }
    for fpir in fpirs:
        threshold = identification_threshold(curve, gallery_size, fpir)
        named = int(np.count_nonzero(impostor >= threshold))
        figures[f"fpir_{fpir:g}"] = {
            "threshold": threshold,
            "dir": float(np.mean(correct & (genuine >= threshold))),
            "measured_fpir": named / impostor.size,
            "strangers_named": named,
        }
    return figures


def identification_report(
    photos_of: Mapping[str, Sequence[str]],
    embeddings: Mapping[str, np.ndarray],
    curve: FarCurve,
    fpir: float,
    seed: int = 0,
    draws: int = 10,
) -> dict:
    """The FPIR protocol of `facepipe eval identify` (seeded): ``at_fpir``, identification_at_fpir at
    FPIR 1% and 0.1% for galleries of GALLERY_SIZES people against every other person; and
    ``at_configured_fpir``, 30 people enrolled against 1,000 strangers (at most) at ``fpir``, with the
    measured FPIR over ``fpir``."""
    rng = np.random.default_rng(seed)
    at_fpir = {
        f"gallery_{size}": identification_at_fpir(photos_of, embeddings, curve, size, FPIRS, draws, rng)
        for size in GALLERY_SIZES
    }
    configured = identification_at_fpir(photos_of, embeddings, curve, 30, (fpir,), draws, rng, strangers=1000)
    if configured is not None:
        configured.update(
            configured_fpir=fpir, measured_over_configured=configured[f"fpir_{fpir:g}"]["measured_fpir"] / fpir
        )
    return {"calibration": curve.source, "at_fpir": at_fpir, "at_configured_fpir": configured}
