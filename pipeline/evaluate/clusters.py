"""`facepipe eval cluster`: the clusters of a set of tables scored against known identities (a CSV
of uri,person)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config
from pipeline.ingest.main_face import central_faces_index
from pipeline.io.readers import read_labels
from pipeline.io.tables import TablesSnapshot
from pipeline.metrics.clustering import clustering_metrics


def evaluate_clusters(tables: str, labels_csv: str, config: Config) -> dict:
    """Clustering metrics of the clusters table at ``tables`` against ``labels_csv``. Each labelled
    photo is represented by its face nearest the photo's centre; a labelled photo without a face
    counts as a noise face of its own."""
    storage = config.resolved_storage()
    labels = read_labels(labels_csv)
    snapshot = TablesSnapshot(tables, storage)
    images = snapshot.read(S.IMAGES_TABLE)
    faces = snapshot.faces().read([S.FACE_ID, S.URI, S.BBOX])
    clusters = snapshot.read(S.CLUSTERS_TABLE)
    images = images.filter(pc.is_in(images[S.URI], value_set=pa.array(list(labels))))
    central = central_faces_index(images, faces)  # uri -> row in faces
    cluster_of = dict(zip(clusters[S.FACE_ID].to_pylist(), clusters[S.CLUSTER_ID].to_pylist()))
    face_ids = faces[S.FACE_ID].to_pylist()
    uris = sorted(labels)
    predicted = np.array(
        [cluster_of.get(face_ids[central[u]], S.NOISE_CLUSTER) if u in central else S.NOISE_CLUSTER for u in uris]
    )
    metrics = clustering_metrics(predicted, np.array([labels[u] for u in uris]))
    metrics.update(
        clustering=snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY),  # what the defaults chose, and why
        labelled_photos=len(uris),
        labelled_photos_without_face=len(uris) - len(central),
        labelled_photos_missing_from_tables=len(uris) - images.num_rows,
    )
    return metrics
