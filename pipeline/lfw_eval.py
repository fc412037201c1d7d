"""`facepipe eval lfw`: embed the photos of an LFW pairs file with the embed pipeline, then score the pairs."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline import store
from pipeline.config import Config, ConfigError
from pipeline.evaluate import plot_roc, plot_similarity_histogram, read_lfw_pairs, verification_metrics
from pipeline.ingest import run_embed
from pipeline.tables import read_table

log = logging.getLogger(__name__)


def central_faces(images: pa.Table, faces: pa.Table) -> dict[str, np.ndarray]:
    """uri -> embedding of the face whose box centre lies nearest the photo's centre."""
    size = {row[S.URI]: (row[S.WIDTH], row[S.HEIGHT]) for row in images.select([S.URI, S.WIDTH, S.HEIGHT]).to_pylist()}
    boxes = faces[S.BBOX].combine_chunks().flatten().to_numpy().reshape(-1, 4)
    vectors = np.asarray(faces[S.EMBEDDING].combine_chunks().flatten().to_numpy()).reshape(faces.num_rows, -1)
    best: dict[str, tuple[float, int]] = {}
    for i, uri in enumerate(faces[S.URI].to_pylist()):
        width, height = size[uri]
        centre = (boxes[i, :2] + boxes[i, 2:]) / 2
        distance = float(np.hypot(centre[0] - width / 2, centre[1] - height / 2))
        if uri not in best or distance < best[uri][0]:
            best[uri] = (distance, i)
    return {uri: vectors[i] for uri, (_, i) in best.items()}


def evaluate_lfw(lfw_dir: str, output: str, config: Config, pairs_file: str | None = None) -> dict:
    """Accuracy (10-fold), VAL at FAR 1e-3 and counts for the pairs of ``pairs_file`` (default pairs.txt).

    Tables go to OUTPUT/tables (reruns reuse them), plots and metrics.json to OUTPUT.
    """
    root = Path(lfw_dir)
    pairs_path = Path(pairs_file) if pairs_file else root / "pairs.txt"
    if not pairs_path.is_file() or not (root / "images").is_dir():
        raise ConfigError(f"{root} is not an LFW folder: expected {pairs_path} and {root / 'images'}/")
    pairs = read_lfw_pairs(pairs_path)
    wanted = sorted({str((root / "images" / p).resolve()) for pair in pairs for p in (pair.a, pair.b)})
    listing = store.list_photos(str(root / "images"), config.resolved_storage(), config.input.extensions)
    listing = listing.filter(pc.is_in(listing[S.URI], value_set=pa.array(wanted)))
    if listing.num_rows != len(wanted):
        raise ConfigError(f"{len(wanted) - listing.num_rows} photos named in {pairs_path} are missing from {root / 'images'}")
    tables = store.join(output, "tables")
    summary = run_embed(str(root / "images"), tables, config, listing=listing)
    log.info("embedded: %s", summary.as_dict())
    images, faces = read_table(tables, "images"), read_table(tables, "faces")
    embeddings = central_faces(images, faces)
    resolve = lambda rel: str((root / "images" / rel).resolve())  # noqa: E731
    similarity = np.array(
        [
            float(embeddings[resolve(p.a)] @ embeddings[resolve(p.b)])
            if resolve(p.a) in embeddings and resolve(p.b) in embeddings
            else np.nan
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    metrics = verification_metrics(similarity, same, folds)
    scored = ~np.isnan(similarity)
    if not scored.all():  # unscored pairs count as errors above; these figures leave them out
        only_scored = verification_metrics(similarity[scored], same[scored], folds[scored])
        metrics.update({f"{key}_scored_pairs_only": only_scored[key] for key in ("accuracy", "val_at_far_0.001")})
    metrics.update(
        photos=len(wanted),
        photos_without_face=len(wanted) - len(embeddings),
        model=faces[S.MODEL][0].as_py() if faces.num_rows else None,
        detector=faces[S.DETECTOR][0].as_py() if faces.num_rows else None,
        pairs_file=str(pairs_path),
    )
    Path(output).mkdir(parents=True, exist_ok=True)
    plot_roc(similarity, same, Path(output) / "roc.png")
    plot_similarity_histogram(similarity, same, Path(output) / "similarity_histogram.png", threshold=metrics["threshold"])
    (Path(output) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
