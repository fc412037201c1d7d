"""The face a labelled photo stands for: the one whose box centre lies nearest the photo's centre
(how evaluations score "the person in this photo" and training picks its crop)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipeline import schema as S


def central_faces_index(images: pa.Table, faces: pa.Table) -> dict[str, int]:
    """uri -> row (in ``faces``) of the face whose box centre lies nearest the photo's centre, for the
    photos of ``images`` that have a face."""
    size = {row[S.URI]: (row[S.WIDTH], row[S.HEIGHT]) for row in images.select([S.URI, S.WIDTH, S.HEIGHT]).to_pylist()}
    boxes = S.matrix(faces[S.BBOX])
    best: dict[str, tuple[float, int]] = {}
    for i, uri in enumerate(faces[S.URI].to_pylist()):
        if uri not in size:
            continue
        width, height = size[uri]
        centre = (boxes[i, :2] + boxes[i, 2:]) / 2
        distance = float(np.hypot(centre[0] - width / 2, centre[1] - height / 2))
        if uri not in best or distance < best[uri][0]:
            best[uri] = (distance, i)
    return {uri: i for uri, (_, i) in best.items()}


def central_faces(images: pa.Table, faces: pa.Table) -> dict[str, np.ndarray]:
    """uri -> embedding of the face whose box centre lies nearest the photo's centre."""
    vectors = S.matrix(faces[S.EMBEDDING])
    return {uri: vectors[i] for uri, i in central_faces_index(images, faces).items()}
