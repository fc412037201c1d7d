"""LFW benchmarks through the embed pipeline: verification over a pairs file (10-fold protocol), open-set
identification with one enrolled photo per person; and calibrating a model's FAR curve on LFW-format
labelled photos (a pairs file, or every pair of an LFW-format folder)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.evaluate.open_set import identification_report
from pipeline.evaluate.plots import plot_roc, plot_similarity_histogram
from pipeline.ingest.embed_job import embed
from pipeline.ingest.main_face import central_faces
from pipeline.io import store
from pipeline.io.readers import read_lfw_pairs
from pipeline.io.tables import TablesSnapshot
from pipeline.metrics.far_curve import all_pair_counts, far_curve_points, pair_counts
from pipeline.metrics.verification import open_set_metrics, verification_metrics
from pipeline.recognize.gallery import Gallery
from pipeline.similarity.far_curves import CalibrationStore
from pipeline.similarity.thresholds import threshold_from_pairs

log = logging.getLogger(__name__)


def _embed_lfw(
    root: Path, wanted: list[str] | None, output: str, config: Config
) -> tuple[dict[str, np.ndarray], pa.Table]:
    """Central-face embeddings (uri -> vector) of ``wanted`` LFW photos (all when None), through the
    embed pipeline into OUTPUT/tables (reruns reuse them); and the faces table."""
    listing = store.list_photos(str(root / "images"), config.resolved_storage(), config.input.extensions)
    if wanted is not None:
        listing = listing.filter(pc.is_in(listing[S.URI], value_set=pa.array(wanted)))
        if listing.num_rows != len(wanted):
            raise ConfigError(
                f"{len(wanted) - listing.num_rows} photos named in the pairs are missing from {root / 'images'}"
            )
    tables = store.join(output, "tables")
    summary = embed(str(root / "images"), tables, config, listing=listing)
    log.info("embedded: %s", summary.as_dict())
    snapshot = TablesSnapshot(tables, config.resolved_storage())
    images, faces = snapshot.read(S.IMAGES_TABLE), snapshot.read(S.FACES_TABLE)
    if wanted is None:
        images = images.filter(pc.is_in(images[S.URI], value_set=listing[S.URI]))
    return central_faces(images, faces), faces


def lfw_pair_similarities(
    lfw_dir: str, output: str, config: Config, pairs_file: str | None = None
) -> tuple[list, np.ndarray, dict]:
    """The pairs of ``pairs_file`` (default LFW_DIR/pairs.txt), the cosine similarity of each (NaN
    where a photo has no face), and facts about the run (photos, photos without face, model ids)."""
    root = Path(lfw_dir)
    pairs_path = Path(pairs_file) if pairs_file else root / "pairs.txt"
    if not pairs_path.is_file() or not (root / "images").is_dir():
        raise ConfigError(f"{root} is not an LFW folder: expected {pairs_path} and {root / 'images'}/")
    pairs = read_lfw_pairs(pairs_path)
    resolve = lambda rel: str((root / "images" / rel).resolve())
    wanted = sorted({resolve(p) for pair in pairs for p in (pair.a, pair.b)})
    embeddings, faces = _embed_lfw(root, wanted, output, config)
    similarity = np.array(
        [
            float(embeddings[resolve(p.a)] @ embeddings[resolve(p.b)])
            if resolve(p.a) in embeddings and resolve(p.b) in embeddings
            else np.nan
            for p in pairs
        ]
    )
    facts = {
        "photos": len(wanted),
        "photos_without_face": len(wanted) - len(embeddings),
        "model": faces[S.MODEL][0].as_py() if faces.num_rows else None,
        "detector": faces[S.DETECTOR][0].as_py() if faces.num_rows else None,
        "pairs_file": str(pairs_path),
    }
    return pairs, similarity, facts


def evaluate_lfw(lfw_dir: str, output: str, config: Config, pairs_file: str | None = None) -> dict:
    """Accuracy (10-fold), VAL at FAR 1e-3 and counts for the pairs of ``pairs_file`` (default pairs.txt).

    Tables go to OUTPUT/tables (reruns reuse them), plots and metrics.json to OUTPUT (a folder or s3://).
    """
    pairs, similarity, facts = lfw_pair_similarities(lfw_dir, output, config, pairs_file)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    metrics = verification_metrics(similarity, same, folds)
    scored = ~np.isnan(similarity)
    if not scored.all():  # unscored pairs count as errors above; these figures leave them out
        only_scored = verification_metrics(similarity[scored], same[scored], folds[scored])
        metrics.update({f"{key}_scored_pairs_only": only_scored[key] for key in ("accuracy", "val_at_far_0.001")})
    metrics.update(facts)
    storage = config.resolved_storage()
    roc, histogram = io.BytesIO(), io.BytesIO()
    plot_roc(similarity, same, roc)
    plot_similarity_histogram(similarity, same, histogram, threshold=metrics["threshold"])
    store.write_bytes(store.join(output, "roc.png"), roc.getvalue(), storage)
    store.write_bytes(store.join(output, "similarity_histogram.png"), histogram.getvalue(), storage)
    store.write_text(store.join(output, "metrics.json"), json.dumps(metrics, indent=2), storage)
    return metrics


def _lfw_root(lfw_dir: str) -> Path:
    root = Path(lfw_dir)
    if not (root / "images").is_dir():
        raise ConfigError(f"{root} is not an LFW folder: expected {root / 'images'}/ (one folder per person)")
    return root


def evaluate_lfw_identification(lfw_dir: str, output: str, config: Config, seed: int = 0, draws: int = 10) -> dict:
    """Open-set identification on all photos of an LFW-format folder (a photo's person: its folder).

    With empirical thresholds: the first photo (by file name) of every person with two or more is
    enrolled (one-shot); probes are their other photos plus every photo of the people with one photo
    (never enrolled): DIR at false-alarm rates 1% and 0.1%, and rank-1 accuracy.
    At the thresholds identify uses (the model's FAR curve): open_set.identification_report, ``draws``
    draws seeded with ``seed``, at config.recognize.fpir."""
    root = _lfw_root(lfw_dir)
    embeddings, faces = _embed_lfw(root, None, output, config)
    photos_of = {
        person.name: sorted(str(p.resolve()) for p in person.glob("*.jpg")) for person in (root / "images").iterdir()
    }
    enrolled = {
        person: photos[0] for person, photos in photos_of.items() if len(photos) >= 2 and photos[0] in embeddings
    }
    gallery = Gallery(faces[S.MODEL][0].as_py() if faces.num_rows else "unknown")
    for person, uri in sorted(enrolled.items()):
        gallery.enroll(person, [uri], embeddings[uri][None])
    genuine = [
        (person, uri)
        for person, photos in photos_of.items()
        if person in enrolled
        for uri in photos
        if uri != enrolled[person]
    ]
    impostors = [photos[0] for photos in photos_of.values() if len(photos) == 1]

    def best_matches(uris: list[str]) -> tuple[np.ndarray, list]:
        """Top-1 similarity and identity per probe; a probe without a face matches nobody."""
        with_face = [u for u in uris if u in embeddings]
        found = (
            dict(zip(with_face, gallery.identify(np.stack([embeddings[u] for u in with_face]), -np.inf)))
            if with_face
            else {}
        )
        return (
            np.array([found[u].similarity if u in found else -np.inf for u in uris]),
            [found[u].candidate if u in found else None for u in uris],
        )

    genuine_scores, candidates = best_matches([uri for _, uri in genuine])
    metrics = open_set_metrics(
        genuine_scores,
        np.array([candidate == person for candidate, (person, _) in zip(candidates, genuine)], bool),
        best_matches(impostors)[0],
    )
    people_without_face = sum(1 for person, photos in photos_of.items() if len(photos) >= 2 and person not in enrolled)
    metrics.update(
        enrolled_people=len(enrolled),
        people_not_enrolled_no_face_in_first_photo=people_without_face,
        photos_without_face=sum(len(p) for p in photos_of.values()) - len(embeddings),
        model=gallery.model,
    )
    with_face = {person: [u for u in photos if u in embeddings] for person, photos in photos_of.items()}
    with_face = {person: photos for person, photos in with_face.items() if photos}
    curve = CalibrationStore.of(config).curve(gallery.model)
    metrics.update(identification_report(with_face, embeddings, curve, config.recognize.fpir, seed, draws))
    store.write_text(
        store.join(output, "identification.json"), json.dumps(metrics, indent=2), config.resolved_storage()
    )
    return metrics


def calibrate_on_lfw(
    lfw_dir: str, output: str, config: Config, far: float, command: str, pairs_file: str | None = None
) -> dict:
    """Calibrate the configured model on an LFW-format pairs file (default pairs.txt: 3,000
    different-person pairs, so FAR down to 1/3000): its threshold at ``far``, and its FAR curve at the
    FARs the pairs can measure; recorded for that model with the ``command`` that made it."""
    pairs, similarity, facts = lfw_pair_similarities(lfw_dir, output, config, pairs_file)
    same = np.array([p.same for p in pairs])
    result = threshold_from_pairs(similarity, same, far)
    curve = far_curve_points(*pair_counts(similarity, same))
    where = CalibrationStore.of(config).save(facts["model"], curve, facts["pairs_file"], command, threshold=result)
    return {**result, "curve": curve, "model": facts["model"], "detector": facts["detector"], "stored_at": where}


def calibrate_on_all_pairs(lfw_dir: str, output: str, config: Config, command: str) -> dict:
    """Calibrate the configured model's FAR curve on every pair of photos of an LFW-format folder (a
    photo's person: its folder; each photo stands for its central face): n (n - 1) / 2 pairs, so
    13,233 LFW photos measure FAR down to about 1e-8. Recorded for that model, replacing what was
    recorded before, with the ``command`` that made it."""
    root = _lfw_root(lfw_dir)
    embeddings, faces = _embed_lfw(root, None, output, config)
    uris = sorted(embeddings)
    persons = np.array([Path(uri).parent.name for uri in uris])
    curve = far_curve_points(*all_pair_counts(np.stack([embeddings[u] for u in uris]), persons))
    source = (
        f"all pairs of central faces of {root.resolve().name}/images: {len(uris)} photos of "
        f"{len(set(persons))} people (a photo's person: its folder)"
    )
    model = faces[S.MODEL][0].as_py()
    where = CalibrationStore.of(config).save(model, curve, source, command)
    return {
        **curve,
        "model": model,
        "detector": faces[S.DETECTOR][0].as_py(),
        "source": source,
        "photos_without_face": len(list((root / "images").glob("*/*.jpg"))) - len(uris),
        "stored_at": where,
    }
