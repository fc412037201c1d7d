"""The images and faces tables at DST: Delta Lake tables written transactionally, read as Arrow.

Commit protocol (every step is one Delta transaction):
1. faces rows of a batch are written first (old faces of re-processed photos deleted, new ones appended);
2. the images rows of the batch are written last, and that commit records the faces table version
   it is consistent with (commit metadata ``facepipe.faces_version``).
``read_table`` reads the latest images version and the faces version it records, so a crash between
steps never shows half a batch; the next run deletes any faces written after the last images commit
that do not belong to a committed photo, then carries on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pipeline import schema as S
from pipeline import store
from pipeline.config import ConfigError, StorageConfig

FACES_VERSION_KEY = "facepipe.faces_version"
TABLE_NAMES = ("images", "faces")


def _pin(version: int) -> CommitProperties:
    return CommitProperties(custom_metadata={FACES_VERSION_KEY: str(version)})


def _open(path: str, options: dict[str, str] | None, version: int | None = None) -> DeltaTable | None:
    try:
        return DeltaTable(path, version=version, storage_options=options)
    except TableNotFoundError:
        return None


def _as_schema(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Delta stores fixed-size lists as lists: cast the columns back to the declared Arrow types."""
    return table.select(target.names).cast(target)


def faces_models(faces: DeltaTable) -> dict:
    """The model ids and embedding dimension a faces table was created for (its table description)."""
    return json.loads(faces.metadata().description or "{}").get("facepipe", {})


def _pinned_faces_version(images: DeltaTable) -> int:
    last = images.history(1)[0]
    if FACES_VERSION_KEY not in last:
        raise ConfigError(f"{images.table_uri} was not written by facepipe (no {FACES_VERSION_KEY} in its last commit)")
    return int(last[FACES_VERSION_KEY])


@dataclass(frozen=True)
class FacesSnapshot:
    """The committed faces at DST (the version the last images commit pins), read in batches."""

    table: DeltaTable
    models: dict  # model, detector, embedding_dim

    def read(self, columns: list[str], rows: int) -> pa.Table:
        """All of the snapshot's rows, only ``columns``, read ``rows`` at a time."""
        empty = S.faces_schema(self.models["embedding_dim"]).empty_table().select(columns)
        return pa.concat_tables([empty, *self.batches(columns, rows)])

    def batches(self, columns: list[str], rows: int, face_ids: pa.Array | None = None) -> Iterator[pa.Table]:
        """The snapshot's rows (only ``columns``; only ``face_ids`` when given), ``rows`` at a time,
        in a stable order."""
        dataset = self.table.to_pyarrow_dataset()
        where = pc.field(S.FACE_ID).isin(face_ids) if face_ids is not None else None
        schema = S.faces_schema(self.models["embedding_dim"])
        for batch in dataset.to_batches(columns=columns, filter=where, batch_size=rows):
            if batch.num_rows:
                yield _as_schema(pa.Table.from_batches([batch]), pa.schema([schema.field(c) for c in columns]))


def committed_faces(dst: str, storage: StorageConfig) -> FacesSnapshot:
    """faces_snapshot for jobs that need tables: ConfigError saying what to run when there are none."""
    try:
        return faces_snapshot(dst, storage)
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc}: run `facepipe embed --output {dst}` first") from None


def faces_snapshot(dst: str, storage: StorageConfig | None = None) -> FacesSnapshot:
    """The committed faces at ``dst``; FileNotFoundError when there are no tables."""
    options = store.delta_storage_options(dst, storage or StorageConfig())
    images = _open(store.join(dst, "images"), options)
    if images is None:
        raise FileNotFoundError(f"no facepipe tables at {dst}")
    faces = DeltaTable(store.join(dst, "faces"), version=_pinned_faces_version(images), storage_options=options)
    return FacesSnapshot(faces, faces_models(faces))


def read_table(dst: str, name: str, storage: StorageConfig | None = None) -> pa.Table:
    """The current rows of table ``name`` ("images" or "faces") at ``dst`` as a pyarrow.Table.

    The faces returned are exactly those of the images returned (same committed snapshot).
    """
    if name not in TABLE_NAMES:
        raise ValueError(f"unknown table {name!r}; expected one of {TABLE_NAMES}")
    if name == "images":
        images = _open(store.join(dst, "images"), store.delta_storage_options(dst, storage or StorageConfig()))
        if images is None:
            raise FileNotFoundError(f"no facepipe tables at {dst}")
        return _as_schema(images.to_pyarrow_table(), S.IMAGES_SCHEMA)
    faces = faces_snapshot(dst, storage)
    return _as_schema(faces.table.to_pyarrow_table(), S.faces_schema(faces.models["embedding_dim"]))


class FaceTables:
    """Writer of the two tables at DST for one job run (single writer per DST)."""

    def __init__(self, dst: str, storage: StorageConfig, dim: int, model: str, detector: str):
        self.dst = dst
        self.storage = storage
        self.options = store.delta_storage_options(dst, storage)
        self.images_path = store.join(dst, "images")
        self.faces_path = store.join(dst, "faces")
        self.faces_schema = S.faces_schema(dim)
        self.model, self.detector = model, detector
        self._create_missing(dim)
        self.images = DeltaTable(self.images_path, storage_options=self.options)
        self.faces = DeltaTable(self.faces_path, storage_options=self.options)
        self._check_models()

    def _create_missing(self, dim: int) -> None:
        faces = _open(self.faces_path, self.options)
        if faces is None:
            write_deltalake(
                self.faces_path,
                self.faces_schema.empty_table(),
                mode="append",
                storage_options=self.options,
                description=json.dumps(
                    {"facepipe": {"model": self.model, "detector": self.detector, "embedding_dim": dim}}
                ),
            )
            faces = DeltaTable(self.faces_path, storage_options=self.options)
        if _open(self.images_path, self.options) is None:
            write_deltalake(
                self.images_path,
                S.IMAGES_SCHEMA.empty_table(),
                mode="append",
                storage_options=self.options,
                commit_properties=_pin(faces.version()),
            )

    def _check_models(self) -> None:
        recorded = faces_models(self.faces)
        found = (recorded.get("model"), recorded.get("detector"))
        if found != (self.model, self.detector):
            raise ConfigError(
                f"{self.dst} holds faces of models {found}, this run uses {(self.model, self.detector)}: "
                "write to another --output (tables never mix embeddings of different models)"
            )

    def committed_images(self) -> pa.Table:
        """The images rows as last committed (what incremental planning compares against)."""
        return _as_schema(self.images.to_pyarrow_table(), S.IMAGES_SCHEMA)

    def repair(self) -> int:
        """Delete faces written after the last images commit that belong to no committed photo.

        Returns the number of faces deleted (0 after a clean run).
        """
        self.images.update_incremental()
        self.faces.update_incremental()
        if self.faces.version() == _pinned_faces_version(self.images):
            return 0
        images = self.images.to_pyarrow_table(columns=[S.URI, S.IMAGE_ID, S.STATUS])
        committed = images.filter(pc.equal(images[S.STATUS], S.STATUS_OK))
        faces = self.faces.to_pyarrow_table(columns=[S.FACE_ID, S.URI, S.IMAGE_ID])
        key = lambda t: pc.binary_join_element_wise(t[S.URI], t[S.IMAGE_ID], "\x00")  # noqa: E731
        orphans = faces.filter(pc.invert(pc.is_in(key(faces), value_set=key(committed))))
        if orphans.num_rows:
            self._delete_faces_where(S.FACE_ID, orphans.select([S.FACE_ID]))
        self._commit_images_pin()
        return orphans.num_rows

    def _delete_faces_where(self, column: str, keys: pa.Table) -> None:
        (
            self.faces.merge(keys, predicate=f"t.{column} = s.{column}", source_alias="s", target_alias="t")
            .when_matched_delete()
            .execute()
        )

    def _commit_images_pin(self) -> None:
        """An empty images commit that re-pins the (repaired) faces version."""
        write_deltalake(
            self.images,
            S.IMAGES_SCHEMA.empty_table(),
            mode="append",
            storage_options=self.options,
            commit_properties=_pin(self.faces.version()),
        )

    def commit(self, images_rows: pa.Table, faces_rows: pa.Table, replaced_uris: list[str]) -> None:
        """Write one batch: faces first, then images (the commit point).

        ``replaced_uris`` are uris that already have rows (changed or retried photos): their old
        faces and images rows are replaced.
        """
        replaced = pa.table({S.URI: pa.array(sorted(set(replaced_uris)), pa.string())})
        if replaced.num_rows:
            self._delete_faces_where(S.URI, replaced)
        if faces_rows.num_rows:
            write_deltalake(self.faces, faces_rows.cast(self.faces_schema), mode="append", storage_options=self.options)
        self.faces.update_incremental()
        images_rows = images_rows.cast(S.IMAGES_SCHEMA)
        if replaced.num_rows:
            (
                self.images.merge(
                    images_rows,
                    predicate=f"t.{S.URI} = s.{S.URI}",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=_pin(self.faces.version()),
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        else:
            write_deltalake(
                self.images,
                images_rows,
                mode="append",
                storage_options=self.options,
                commit_properties=_pin(self.faces.version()),
            )
        self.images.update_incremental()

    def remove(self, uris: list[str]) -> None:
        """Drop the rows of photos gone from SRC: their faces, then their images rows."""
        if not uris:
            return
        gone = pa.table({S.URI: pa.array(sorted(set(uris)), pa.string())})
        self._delete_faces_where(S.URI, gone)
        self.faces.update_incremental()
        (
            self.images.merge(
                gone,
                predicate=f"t.{S.URI} = s.{S.URI}",
                source_alias="s",
                target_alias="t",
                commit_properties=_pin(self.faces.version()),
            )
            .when_matched_delete()
            .execute()
        )
        self.images.update_incremental()

    def compact(self) -> None:
        """Merge the small files of many batch commits (faces first, then images re-pinned)."""
        self.faces.optimize.compact()
        self.faces.update_incremental()
        self.images.optimize.compact(commit_properties=_pin(self.faces.version()))
        self.images.update_incremental()
        if self.images.history(1)[0].get(FACES_VERSION_KEY) != str(self.faces.version()):
            self._commit_images_pin()

    def write_metadata(self, name: str, content: dict) -> None:
        """A JSON document beside the tables (resolved config, model ids, run summary)."""
        store.write_text(
            store.join(self.dst, "_facepipe", name), json.dumps(content, indent=2, default=str), self.storage
        )


CLUSTER_TABLES = {"clusters": S.CLUSTERS_SCHEMA, "persons": S.PERSONS_SCHEMA}


def write_clustering(
    dst: str, clusters: pa.Table, persons: pa.Table, storage: StorageConfig, faces_version: int
) -> None:
    """Replace the clusters and persons tables at DST (one Delta overwrite each; persons last, and
    it records the faces version the clustering was made from)."""
    options = store.delta_storage_options(dst, storage)
    write_deltalake(
        store.join(dst, "clusters"),
        clusters.cast(S.CLUSTERS_SCHEMA),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=options,
    )
    write_deltalake(
        store.join(dst, "persons"),
        persons.cast(S.PERSONS_SCHEMA),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=options,
        commit_properties=_pin(faces_version),
    )


def read_clustering(dst: str, name: str, storage: StorageConfig | None = None) -> pa.Table:
    """The current ``clusters`` or ``persons`` table at DST; FileNotFoundError before any clustering."""
    table = _open(store.join(dst, name), store.delta_storage_options(dst, storage or StorageConfig()))
    if table is None:
        raise FileNotFoundError(f"no {name} table at {dst}: run `facepipe cluster --tables {dst}` first")
    return _as_schema(table.to_pyarrow_table(), CLUSTER_TABLES[name])
