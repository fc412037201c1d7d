"""A gallery of people enrolled from as little as one photo each, for 1:N identification.

A person's template is the normalised mean of their enrolled embeddings (one-shot: adding a person
never retrains anything). The gallery lives at a folder or s3:// prefix: ``enrollments.parquet``
(one row per enrolled photo) and ``index/`` (a VectorIndex of the templates, key = name).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.search.index_settings import IndexSettings
from pipeline.search.vector_index import KEY, VectorIndex, batches_of

ENROLLMENTS_FILE = "enrollments.parquet"


def _template_index(names: list[str], templates: np.ndarray) -> VectorIndex:
    """An exact index over the templates (galleries are small next to face tables)."""
    entries = pa.table({KEY: pa.array(names, pa.string())})
    exact = IndexSettings(kind="flat")
    return VectorIndex.build(batches_of(entries, templates, len(names)), len(names), templates.shape[1], exact)


@dataclass
class Identification:
    """The best gallery match of a probe: identity (None: not recognised), similarity, runner-up."""

    identity: str | None
    similarity: float
    candidate: str | None


class Gallery:
    """People enrolled by name: their enrolled embeddings, templates and the template index."""

    def __init__(self, model: str, enrollments: pa.Table | None = None):
        self.model = model
        self.enrollments = (
            enrollments
            if enrollments is not None
            else pa.table(
                {
                    S.NAME: pa.array([], pa.string()),
                    S.PHOTO: pa.array([], pa.string()),
                    S.EMBEDDING: pa.array([], pa.list_(pa.float32())),
                    S.ENROLLED_AT: pa.array([], S.TIMESTAMP),
                }
            )
        )
        self._index: VectorIndex | None = None

    @property
    def names(self) -> list[str]:
        return sorted(set(self.enrollments[S.NAME].to_pylist()))

    def enroll(self, name: str, photos: list[str], embeddings: np.ndarray, replace: bool = False) -> None:
        """Add photos of ``name`` (one is enough; more refine the template); ``replace`` drops earlier ones."""
        if not name.strip():
            raise ConfigError("a person's name must not be empty")
        if replace:
            self.remove(name)
        now = dt.datetime.now(dt.timezone.utc)
        rows = pa.table(
            {
                S.NAME: [name] * len(photos),
                S.PHOTO: photos,
                S.EMBEDDING: pa.array([list(map(float, e)) for e in embeddings], pa.list_(pa.float32())),
                S.ENROLLED_AT: pa.array([now] * len(photos), S.TIMESTAMP),
            }
        )
        self.enrollments = pa.concat_tables([self.enrollments, rows.cast(self.enrollments.schema)])
        self._index = None

    def remove(self, name: str) -> int:
        """Forget ``name``; how many enrolled photos that dropped."""
        keep = pc.not_equal(self.enrollments[S.NAME], name)
        dropped = self.enrollments.num_rows - pc.sum(keep).as_py() if self.enrollments.num_rows else 0
        self.enrollments = self.enrollments.filter(keep)
        self._index = None
        return int(dropped)

    def templates(self) -> tuple[list[str], np.ndarray]:
        """Names and their unit template vectors (normalised mean of the enrolled embeddings)."""
        names = self.enrollments[S.NAME].to_pylist()
        vectors = S.matrix(self.enrollments[S.EMBEDDING]).astype(np.float32)
        people = sorted(set(names))
        position = {name: i for i, name in enumerate(people)}
        sums = np.zeros((len(people), vectors.shape[1] if len(names) else 0), np.float32)
        np.add.at(sums, [position[n] for n in names], vectors)
        return people, sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)

    def index(self) -> VectorIndex | None:
        if self._index is None and self.enrollments.num_rows:
            self._index = _template_index(*self.templates())
        return self._index

    def identify(self, probes: np.ndarray, threshold: float) -> list[Identification]:
        """Per unit probe embedding: the most similar person, kept only at or above ``threshold``."""
        index = self.index()
        if index is None:
            raise ConfigError("the gallery is empty: enroll someone first")
        similarities, positions = index.search(probes, 1)
        names = index.entries[KEY].to_pylist()
        return [
            Identification(names[p] if s >= threshold else None, float(s), names[p])
            for s, p in zip(similarities[:, 0], positions[:, 0])
        ]

    def save(self, uri: str, config: Config) -> None:
        """Write the enrollments and the template index at ``uri``."""
        storage = config.resolved_storage()
        buffer = io.BytesIO()
        pq.write_table(self.enrollments.replace_schema_metadata({"facepipe.model": self.model}), buffer)
        store.write_bytes(store.join(uri, ENROLLMENTS_FILE), buffer.getvalue(), storage)
        index = self.index()
        if index is not None:
            index.info["model"] = self.model
            index.save(store.join(uri, "index"), storage)

    @classmethod
    def load(cls, uri: str, config: Config, model: str, create: bool = False) -> Gallery:
        """The gallery at ``uri`` for ``model``; an empty one when ``create`` and there is none.
        Raises ConfigError when it is missing or was enrolled with another model."""
        storage = config.resolved_storage()
        try:
            table = pq.read_table(io.BytesIO(store.read_bytes(store.join(uri, ENROLLMENTS_FILE), storage)))
        except FileNotFoundError:
            if create:
                return cls(model)
            raise ConfigError(
                f"no gallery at {uri}: enroll someone first (facepipe enroll --gallery {uri} ...)"
            ) from None
        recorded = (table.schema.metadata or {}).get(b"facepipe.model", b"").decode()
        if recorded != model:
            raise ConfigError(f"the gallery at {uri} was enrolled with model {recorded}, this run uses {model}")
        gallery = cls(model, table.replace_schema_metadata(None))
        try:
            index = VectorIndex.load(store.join(uri, "index"), storage)
            gallery._index = index if sorted(index.keys()) == gallery.names else None  # else rebuilt when needed
        except FileNotFoundError:
            pass
        return gallery
