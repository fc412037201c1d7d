"""Every table facepipe writes at DST: Delta Lake tables written transactionally, read as Arrow
through one API (``read_table(DST, name)``), always as a consistent snapshot.

Tables come in groups written in order, the last table of a group being its commit point: its
commit records the version of the others it is consistent with (commit metadata):
- ``faces`` then ``images``: each embed batch writes its faces first (old faces of re-processed
  photos deleted, new ones appended), then its images rows, whose commit records the faces version
  (``facepipe.faces_version``). A crash between the two never shows half a batch; the next embed run
  deletes faces written after the last images commit that belong to no committed photo.
- ``clusters`` then ``persons``: each clustering overwrites clusters, then persons, whose commit
  records the clusters version (``facepipe.clusters_version``) and the faces version it was made from.
Reading a table opens its group's commit point at its latest version and the other tables at the
versions it records.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from pipeline import schema as S
from pipeline.config import OutputConfig, StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import library_layout, store
from pipeline.io.fence import fenced_commit, open_table, write_modes

# Rows per batch when a table is read in batches: bounds a read's memory beside its result (65,536 faces
# of 128-d float32 embeddings are 32 MiB) while keeping the batches few
READ_BATCH_ROWS = 65_536


def _pin(versions: dict[str, int]) -> dict[str, str]:
    """Commit metadata recording the companion tables' versions (keys: S.*_VERSION_KEY)."""
    return {key: str(version) for key, version in versions.items()}


def _as_schema(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Delta stores fixed-size lists as lists: cast the columns back to the declared Arrow types.
    Columns a table written by an earlier version lacks come back as nulls, its photos' and faces'
    library as the default library and its clusters' scope as that library's."""
    for field in target:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    table = table.select(target.names).cast(target)
    for name, default in ((S.LIBRARY, S.DEFAULT_LIBRARY), (S.SCOPE, S.DEFAULT_SCOPE)):
        if name in target.names:
            where = target.names.index(name)
            table = table.set_column(where, target.field(name), pc.fill_null(table[name], default))
    return table


def faces_models(faces: DeltaTable) -> dict:
    """The model ids and embedding dimension a faces table was created for (its table description)."""
    return json.loads(faces.metadata().description or "{}").get("facepipe", {})


def _pinned_version(commit_point: DeltaTable, key: str, required: bool) -> int | None:
    """The version of a companion table that the commit point's last commit records (None when it
    records none and none is required: tables written before the key existed)."""
    last = commit_point.history(1)[0]
    if key not in last:
        if required:
            raise ConfigError(f"{commit_point.table_uri} was not written by facepipe (no {key} in its last commit)")
        return None
    return int(last[key])


@dataclass(frozen=True)
class _TableSpec:
    """A table: its Arrow schema (from the opened table), the table whose commit pins it, and the
    command that makes it."""

    schema: Callable[[DeltaTable], pa.Schema]
    made_by: str
    pinned_by: str | None = None
    pin_key: str | None = None
    pin_required: bool = False
    by_library: bool = False  # its rows carry their library (S.LIBRARY): read_table(..., library=L) reads one


def _faces_schema(faces: DeltaTable) -> pa.Schema:
    return S.faces_schema(faces_models(faces)["embedding_dim"])


_EMBED, _CLUSTER = "facepipe embed --input SRC --tables {tables}", "facepipe cluster --tables {tables}"
_DEDUP = "facepipe dedup --tables {tables}"
_TAGS, _SUGGEST = "facepipe tags add --tables {tables} --tags FILE", "facepipe tags suggest --tables {tables}"
TABLES: dict[str, _TableSpec] = {
    S.IMAGES_TABLE: _TableSpec(lambda _: S.IMAGES_SCHEMA, _EMBED, by_library=True),
    S.FACES_TABLE: _TableSpec(
        _faces_schema, _EMBED, S.IMAGES_TABLE, S.FACES_VERSION_KEY, pin_required=True, by_library=True
    ),
    S.CLUSTERS_TABLE: _TableSpec(lambda _: S.CLUSTERS_SCHEMA, _CLUSTER, S.PERSONS_TABLE, S.CLUSTERS_VERSION_KEY),
    S.PERSONS_TABLE: _TableSpec(lambda _: S.PERSONS_SCHEMA, _CLUSTER),
    S.DUPLICATES_TABLE: _TableSpec(lambda _: S.DUPLICATES_SCHEMA, _DEDUP),
    S.SIMILAR_TABLE: _TableSpec(lambda _: S.SIMILAR_SCHEMA, _DEDUP, S.DUPLICATES_TABLE, S.SIMILAR_VERSION_KEY),
    S.TAGS_TABLE: _TableSpec(lambda _: S.TAGS_SCHEMA, _TAGS),
    S.SUGGESTIONS_TABLE: _TableSpec(lambda _: S.SUGGESTIONS_SCHEMA, _SUGGEST),
    S.CIRCLES_TABLE: _TableSpec(
        lambda _: S.CIRCLES_SCHEMA, "facepipe circles set --tables {tables} --circle C --libraries A B"
    ),
    S.FORGOTTEN_TABLE: _TableSpec(
        lambda _: S.FORGOTTEN_SCHEMA, "facepipe forget --tables {tables} (--library L | --uri URI | --name NAME)"
    ),
    S.LIBRARIES_TABLE: _TableSpec(
        lambda _: S.LIBRARIES_SCHEMA, "facepipe library set --tables {tables} --library L --faces off"
    ),
    S.RUNS_TABLE: _TableSpec(lambda _: S.RUNS_SCHEMA, _EMBED),  # every job that writes DST adds its row
}


class TablesSnapshot:
    """The committed tables at DST as of one moment: a table is opened on first use, at the version
    its group's commit point (opened first, at its latest version) records, and kept: every read
    through one snapshot sees the same versions."""

    def __init__(self, tables: str, storage: StorageConfig | None = None):
        self.tables = tables
        self.options = store.delta_storage_options(tables, storage)
        self._opened: dict[str, DeltaTable | None] = {}

    def table(self, name: str) -> DeltaTable:
        """The Delta table ``name`` at its committed version; FileNotFoundError saying what makes it."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLES)}")
        spec = TABLES[name]
        if name not in self._opened:
            version = None
            if spec.pinned_by:
                version = _pinned_version(self.table(spec.pinned_by), spec.pin_key, spec.pin_required)
            self._opened[name] = open_table(store.join(self.tables, name), self.options, version)
        opened = self._opened[name]
        if opened is None:
            what = "facepipe tables" if spec.made_by == _EMBED else f"{name} table"
            command = spec.made_by.format(tables=self.tables)
            raise FileNotFoundError(f"no {what} at {self.tables}: run `{command}` first")
        return opened

    def details(self, name: str, key: str) -> dict:
        """The JSON document that the last commit of table ``name`` (a commit point, read at its latest
        version) records under ``key``; {} when it records none."""
        return json.loads(self.table(name).history(1)[0].get(key, "{}"))

    def version(self, name: str) -> int | None:
        """The version of table ``name`` in this snapshot; None when there is none."""
        try:
            return self.table(name).version()
        except FileNotFoundError:
            return None

    def faces(self, by_scope: bool = False) -> FacesSnapshot:
        """The faces table of the snapshot, to read in batches, for a job that works on all of them: one
        that parts them by scope itself (``by_scope``: clustering, tags, dedup), or else ConfigError when
        they are of several libraries, which the job would mix (the index, the evaluations so far)."""
        if not by_scope:
            self.one_library()
        faces = self.table(S.FACES_TABLE)
        return FacesSnapshot(faces, faces_models(faces))

    def libraries(self) -> list[str]:
        """The libraries the snapshot's photos belong to (none before the first embed)."""
        if self.version(S.IMAGES_TABLE) is None:
            return []
        return sorted(pc.unique(self.read(S.IMAGES_TABLE, [S.LIBRARY])[S.LIBRARY]).to_pylist())

    def one_library(self) -> None:
        """ConfigError when the snapshot's photos are of several libraries (for a job that would mix them)."""
        found = self.libraries()
        if len(found) > 1:
            shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
            raise ConfigError(
                f"{self.tables} holds the photos of {len(found)} libraries ({shown}): the index and the "
                "evaluations work on the tables of one library so far (one --tables per library); the report "
                "and the dedup review show one library's (--library L); read one with read_table(..., library=L)"
            )

    def files(self, name: str, libraries: list[str]) -> list[str]:
        """The files (URIs) of table ``name`` that a read of ``libraries`` opens (library_layout)."""
        return library_layout.library_files(self._by_library(name), libraries)

    def _by_library(self, name: str) -> DeltaTable:
        if name in TABLES and not TABLES[name].by_library:
            raise ValueError(f"table {name} has no {S.LIBRARY} column: it is not read by library")
        return self.table(name)

    def read(self, name: str, columns: list[str] | None = None, libraries: list[str] | None = None) -> pa.Table:
        """The rows of table ``name`` (only ``columns`` when given; only those of ``libraries`` when given:
        tables with a library column, whose files of other libraries are not opened), in its declared Arrow
        types (columns the stored table lacks, written by an earlier version, as nulls)."""
        table = self.table(name) if libraries is None else self._by_library(name)
        schema = TABLES[name].schema(table)
        wanted = schema if columns is None else pa.schema([schema.field(c) for c in columns])
        stored = set(table.schema().to_arrow().names)
        if libraries is None:
            return _as_schema(table.to_pyarrow_table(columns=[c for c in wanted.names if c in stored]), wanted)
        # the files that can hold the libraries' rows are chosen from the log (their bucket, their statistics); the
        # rows are filtered here, not by the scan: deltalake's merges write the library as string_view, beside files
        # of string, and pyarrow cannot compare the two in a scan's filter (nor find a null in files written
        # before the column existed: rows of the default library)
        read = wanted if S.LIBRARY in wanted.names else pa.schema([*wanted, schema.field(S.LIBRARY)])
        files = table.to_pyarrow_dataset(file_pruning_predicate=library_layout.files_predicate(table, libraries))
        rows = _as_schema(files.to_table(columns=[c for c in read.names if c in stored]), read)
        return rows.filter(pc.is_in(rows[S.LIBRARY], pa.array(libraries, pa.string()))).select(wanted.names)


def read_table(
    tables: str,
    name: str,
    storage: StorageConfig | None = None,
    *,
    library: str | None = None,
    libraries: list[str] | None = None,
) -> pa.Table:
    """The committed rows of table ``name`` at ``tables`` (images, faces, clusters, persons) as a
    pyarrow.Table. Tables of one group are consistent: the faces returned are exactly those of the
    images returned, the clusters those of the persons. ``library`` (or ``libraries``): only the rows
    of that library (those libraries), for the tables that carry one (images, faces). Storage:
    ``storage`` filled from the AWS environment variables, as the CLI resolves it."""
    if library is not None and libraries is not None:
        raise ValueError("give library or libraries, not both")
    wanted = [library] if library is not None else libraries
    return TablesSnapshot(tables, storage).read(name, libraries=wanted)


@dataclass(frozen=True)
class FacesSnapshot:
    """The committed faces at DST (the version the last images commit pins), read in batches; those of
    ``libraries`` only when given (from only the files that can hold them, library_layout)."""

    table: DeltaTable
    models: dict  # model, detector, embedding_dim
    libraries: tuple[str, ...] | None = None

    def of(self, libraries: list[str]) -> FacesSnapshot:
        """The same snapshot, of the faces of ``libraries`` only."""
        return replace(self, libraries=tuple(libraries))

    def read(self, columns: list[str], rows: int = READ_BATCH_ROWS, libraries: list[str] | None = None) -> pa.Table:
        """All of the snapshot's rows (only those of ``libraries`` when given), only ``columns``, read ``rows``
        at a time."""
        if libraries is not None:
            return self.of(libraries).read(columns, rows)
        empty = S.faces_schema(self.models["embedding_dim"]).empty_table().select(columns)
        return pa.concat_tables([empty, *self.batches(columns, rows)])

    def batches(
        self, columns: list[str], rows: int = READ_BATCH_ROWS, face_ids: pa.Array | None = None
    ) -> Iterator[pa.Table]:
        """The snapshot's rows (only ``columns``; only ``face_ids`` when given), ``rows`` at a time, in a
        stable order."""
        schema = S.faces_schema(self.models["embedding_dim"])
        where = pc.field(S.FACE_ID).isin(face_ids) if face_ids is not None else None
        if self.libraries is None:
            dataset, read = self.table.to_pyarrow_dataset(), columns
        else:
            pruning = library_layout.files_predicate(self.table, list(self.libraries))
            dataset = self.table.to_pyarrow_dataset(file_pruning_predicate=pruning)
            read = columns if S.LIBRARY in columns else [*columns, S.LIBRARY]
        for batch in dataset.to_batches(columns=read, filter=where, batch_size=rows):
            rows_read = _as_schema(pa.Table.from_batches([batch]), pa.schema([schema.field(c) for c in read]))
            if self.libraries is not None:
                wanted = pc.is_in(rows_read[S.LIBRARY], pa.array(self.libraries, pa.string()))
                rows_read = rows_read.filter(wanted).select(columns)
            if rows_read.num_rows:
                yield rows_read


def committed_faces(tables: str, storage: StorageConfig | None = None, by_scope: bool = False) -> FacesSnapshot:
    """The committed faces at ``tables``, for jobs that need them (TablesSnapshot.faces): ConfigError
    saying what to run when there are none."""
    try:
        return TablesSnapshot(tables, storage).faces(by_scope)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None


def _delete_matching(table: DeltaTable, column: str, keys: pa.Table, metadata: dict | None = None) -> None:
    """Delete the rows of ``table`` whose ``column`` is one of ``keys``' (a table of that column), in one fenced
    commit (``metadata``: its custom metadata)."""
    with fenced_commit(table, metadata=metadata) as (table, properties):
        (
            table.merge(
                keys,
                predicate=f"t.{column} = s.{column}",
                source_alias="s",
                target_alias="t",
                commit_properties=properties,
            )
            .when_matched_delete()
            .execute()
        )


class FaceTables:
    """Writer of the two tables at DST for one job run (single writer per DST). Tables it creates are laid
    out in ``library_buckets`` buckets of libraries (library_layout); existing tables keep their own layout."""

    def __init__(
        self,
        tables: str,
        storage: StorageConfig,
        dim: int,
        model: str,
        detector: str,
        library_buckets: int = OutputConfig().library_buckets,
    ):
        self.tables = tables
        self.storage = storage
        self.options = store.delta_storage_options(tables, storage)
        self.images_path = store.join(tables, S.IMAGES_TABLE)
        self.faces_path = store.join(tables, S.FACES_TABLE)
        self.faces_schema = S.faces_schema(dim)
        self.model, self.detector = model, detector
        self._create_missing(dim, library_buckets)
        self.images = DeltaTable(self.images_path, storage_options=self.options)
        self.faces = DeltaTable(self.faces_path, storage_options=self.options)
        self.images_buckets = library_layout.table_buckets(self.images)
        self.faces_buckets = library_layout.table_buckets(self.faces)
        self._check_models()

    @classmethod
    def existing(cls, tables: str, storage: StorageConfig | None) -> FaceTables:
        """The writer of the tables at ``tables`` as their faces table was created (its models and dimension)."""
        models = faces_models(TablesSnapshot(tables, storage).table(S.FACES_TABLE))
        return cls(tables, store.resolve_storage(storage), models["embedding_dim"], models["model"], models["detector"])

    def _create_missing(self, dim: int, buckets: int) -> None:
        faces = open_table(self.faces_path, self.options)
        if faces is None:
            models = {"facepipe": {"model": self.model, "detector": self.detector, "embedding_dim": dim}}
            with fenced_commit(self.faces_path, self.options) as (target, properties):
                write_deltalake(
                    target,
                    **write_modes(target, "append"),
                    storage_options=self.options,
                    commit_properties=properties,
                    **library_layout.create_options(self.faces_schema, buckets, models),
                )
            faces = DeltaTable(self.faces_path, storage_options=self.options)
        if open_table(self.images_path, self.options) is None:
            with fenced_commit(self.images_path, self.options, _pin({S.FACES_VERSION_KEY: faces.version()})) as (
                target,
                properties,
            ):
                write_deltalake(
                    target,
                    **write_modes(target, "append"),
                    storage_options=self.options,
                    commit_properties=properties,
                    **library_layout.create_options(S.IMAGES_SCHEMA, buckets),
                )

    def _check_models(self) -> None:
        recorded = faces_models(self.faces)
        found = (recorded.get("model"), recorded.get("detector"))
        if found != (self.model, self.detector):
            raise ConfigError(
                f"{self.tables} holds faces of models {found}, this run uses {(self.model, self.detector)}: "
                "write to other --tables (tables never mix embeddings of different models)"
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
        if self.faces.version() == _pinned_version(self.images, S.FACES_VERSION_KEY, required=True):
            return 0
        images = self.images.to_pyarrow_table(columns=[S.URI, S.IMAGE_ID, S.STATUS])
        committed = images.filter(pc.equal(images[S.STATUS], S.STATUS_OK))
        faces = self.faces.to_pyarrow_table(columns=[S.FACE_ID, S.URI, S.IMAGE_ID])
        key = lambda t: pc.binary_join_element_wise(t[S.URI], t[S.IMAGE_ID], "\x00")
        orphans = faces.filter(pc.invert(pc.is_in(key(faces), value_set=key(committed))))
        if orphans.num_rows:
            self._delete_faces_where(S.FACE_ID, orphans.select([S.FACE_ID]))
        self._commit_images_pin()
        return orphans.num_rows

    def _faces_pin(self) -> dict[str, str]:
        return _pin({S.FACES_VERSION_KEY: self.faces.version()})

    def _delete_faces_where(self, column: str, keys: pa.Table) -> None:
        _delete_matching(self.faces, column, keys)

    def _commit_images_pin(self) -> None:
        """An empty images commit that re-pins the (repaired) faces version."""
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            write_deltalake(
                images,
                library_layout.with_buckets(S.IMAGES_SCHEMA.empty_table(), self.images_buckets),
                mode="append",
                storage_options=self.options,
                commit_properties=properties,
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
            with fenced_commit(self.faces) as (faces, properties):
                write_deltalake(
                    faces,
                    library_layout.with_buckets(faces_rows.cast(self.faces_schema), self.faces_buckets),
                    mode="append",
                    schema_mode="merge",  # tables of an earlier version gain the new columns
                    storage_options=self.options,
                    commit_properties=properties,
                )
        self.faces.update_incremental()
        images_rows = library_layout.with_buckets(images_rows.cast(S.IMAGES_SCHEMA), self.images_buckets)
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            if replaced.num_rows:
                (
                    images.merge(
                        images_rows,
                        predicate=f"t.{S.URI} = s.{S.URI}",
                        source_alias="s",
                        target_alias="t",
                        merge_schema=True,
                        commit_properties=properties,
                    )
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
            else:
                write_deltalake(
                    images,
                    images_rows,
                    mode="append",
                    schema_mode="merge",  # tables of an earlier version gain the new columns
                    storage_options=self.options,
                    commit_properties=properties,
                )
        self.images.update_incremental()

    def add_fingerprints(self, rows: pa.Table) -> None:
        """Fill in the dedup fingerprints (S.FINGERPRINTS) of committed photos: ``rows`` hold URI, IMAGE_ID and the
        fingerprints; a photo whose row changed since (another image_id) is left alone. Faces are untouched."""
        rows = rows.select([S.URI, S.IMAGE_ID, *S.FINGERPRINTS]).cast(
            pa.schema([S.IMAGES_SCHEMA.field(name) for name in (S.URI, S.IMAGE_ID, *S.FINGERPRINTS)])
        )
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            (
                images.merge(
                    rows,
                    predicate=f"t.{S.URI} = s.{S.URI} AND t.{S.IMAGE_ID} = s.{S.IMAGE_ID}",
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=properties,
                )
                .when_matched_update({name: f"s.{name}" for name in S.FINGERPRINTS})
                .execute()
            )
        self.images.update_incremental()

    def remove(self, uris: list[str]) -> None:
        """Drop the rows of photos gone from SRC: their faces, then their images rows."""
        if not uris:
            return
        gone = pa.table({S.URI: pa.array(sorted(set(uris)), pa.string())})
        self._delete_faces_where(S.URI, gone)
        self.faces.update_incremental()
        _delete_matching(self.images, S.URI, gone, self._faces_pin())
        self.images.update_incremental()

    def remove_faces(self, face_ids: list[str]) -> None:
        """Drop the faces ``face_ids`` (their photos stay), then count their photos' faces again in the images
        commit that re-pins them."""
        if not face_ids:
            return
        gone = pa.array(sorted(set(face_ids)), pa.string())
        faces = self.faces.to_pyarrow_table(columns=[S.FACE_ID, S.URI])
        uris = pc.unique(faces.filter(pc.is_in(faces[S.FACE_ID], value_set=gone))[S.URI])
        self._delete_faces_where(S.FACE_ID, pa.table({S.FACE_ID: gone}))
        self.faces.update_incremental()
        left = faces.filter(pc.invert(pc.is_in(faces[S.FACE_ID], value_set=gone)))
        left = left.filter(pc.is_in(left[S.URI], value_set=uris)).group_by(S.URI).aggregate([(S.FACE_ID, "count")])
        counted = dict(zip(left[S.URI].to_pylist(), left[f"{S.FACE_ID}_count"].to_pylist()))
        counts = pa.table(
            {S.URI: uris, S.NUM_FACES: pa.array([counted.get(uri, 0) for uri in uris.to_pylist()], pa.int32())}
        )
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            (
                images.merge(
                    counts,
                    predicate=f"t.{S.URI} = s.{S.URI}",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=properties,
                )
                .when_matched_update({S.NUM_FACES: f"s.{S.NUM_FACES}"})
                .execute()
            )
        self.images.update_incremental()

    def mark_faces_off(self, library: str) -> None:
        """Mark the decodable photos of ``library`` as having no faces computed (S.STATUS_FACES_OFF, no faces): an
        opted-out library's, whose faces rows are gone; a run after it opts back in computes them again."""
        quoted = library.replace("'", "''")
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            images.update(
                updates={S.STATUS: f"'{S.STATUS_FACES_OFF}'", S.NUM_FACES: "0"},
                predicate=f"{S.LIBRARY} = '{quoted}' AND {S.STATUS} != '{S.STATUS_ERROR}'",
                commit_properties=properties,
            )
        self.images.update_incremental()

    def compact(self) -> dict[str, dict]:
        """Merge the small files of many batch commits, sorted by library (library_layout.compact): faces first,
        then images re-pinned. Returns each table's figures (files before and after, buckets rewritten)."""
        figures = {}
        with fenced_commit(self.faces) as (faces, properties):
            figures[S.FACES_TABLE] = library_layout.compact(faces, properties)
        with fenced_commit(self.images, metadata=self._faces_pin()) as (images, properties):
            figures[S.IMAGES_TABLE] = library_layout.compact(images, properties)
        if self.images.history(1)[0].get(S.FACES_VERSION_KEY) != str(self.faces.version()):
            self._commit_images_pin()
            self.images.update_incremental()
        return figures

    def write_metadata(self, name: str, content: dict) -> None:
        """A JSON document beside the tables (resolved config, model ids, run summary)."""
        store.write_text(
            store.join(self.tables, S.METADATA_FOLDER, name), json.dumps(content, indent=2, default=str), self.storage
        )


def _scope_predicate(scopes: list[str]) -> str:
    """A Delta predicate matching the rows of ``scopes``."""
    quoted = ", ".join("'" + scope.replace("'", "''") + "'" for scope in sorted(scopes))
    return f"{S.SCOPE} IN ({quoted})"


def _replace(path: str, rows: pa.Table, options: dict, scopes: list[str] | None, metadata: dict | None = None) -> None:
    """Overwrite the table at ``path`` with ``rows`` (``scopes`` None), or only the rows of ``scopes``
    (``rows`` being theirs: the other scopes' rows are kept), in one commit with ``metadata``. (A merge that
    matches nothing: deltalake's overwrite with a predicate leaves a process that aborts when it exits.)"""
    if scopes is None:
        with fenced_commit(path, options, metadata) as (target, properties):
            write_deltalake(
                target,
                rows,
                **write_modes(target, "overwrite", schema_mode="overwrite"),
                storage_options=options,
                commit_properties=properties,
            )
        return
    table = DeltaTable(path, storage_options=options)
    version = table.version()
    if scopes:
        with fenced_commit(table, options, metadata) as (table, properties):
            merge = table.merge(
                rows, predicate="false", source_alias="s", target_alias="t", commit_properties=properties
            )
            merge.when_not_matched_insert_all().when_not_matched_by_source_delete(
                f"t.{_scope_predicate(scopes)}"
            ).execute()
    if DeltaTable(path, storage_options=options).version() == version:
        # nothing to replace (a merge that changes no row commits nothing): an empty commit still records
        # what the rows were made from, which the next run compares with
        with fenced_commit(path, options, metadata) as (target, properties):
            write_deltalake(
                target,
                rows.schema.empty_table(),
                **write_modes(target, "append"),
                storage_options=options,
                commit_properties=properties,
            )


def _overwrite_group(
    tables: str,
    storage: StorageConfig | None,
    companion: tuple[str, pa.Table],
    commit_point: tuple[str, pa.Table],
    metadata: dict[str, str],
    scopes: list[str] | None,
) -> None:
    """Overwrite a companion table, then its group's commit point, whose commit records the
    companion's new version (under the TABLES key that pins it) and ``metadata``; ``scopes``: only the
    rows of those scopes are replaced (None: all rows)."""
    options = store.delta_storage_options(tables, storage)
    path = store.join(tables, companion[0])
    _replace(path, companion[1].cast(TABLES[companion[0]].schema(None)), options, scopes)
    version = DeltaTable(path, storage_options=options).version()
    _replace(
        store.join(tables, commit_point[0]),
        commit_point[1].cast(TABLES[commit_point[0]].schema(None)),
        options,
        scopes,
        {TABLES[companion[0]].pin_key: str(version), **metadata},
    )


def write_clustering(
    tables: str,
    clusters: pa.Table,
    persons: pa.Table,
    storage: StorageConfig | None,
    faces_version: int,
    details: dict,
    scopes: list[str] | None = None,
) -> None:
    """Replace the clusters and persons tables at DST (``scopes``: only those scopes' rows): one Delta
    commit each, persons last (the commit point), recording the clusters version, the faces version the
    clustering was made from, and ``details``: how it was made (read back with
    TablesSnapshot.details(persons, S.CLUSTERING_KEY))."""
    metadata = {S.FACES_VERSION_KEY: str(faces_version), S.CLUSTERING_KEY: json.dumps(details)}
    _overwrite_group(tables, storage, (S.CLUSTERS_TABLE, clusters), (S.PERSONS_TABLE, persons), metadata, scopes)


def write_dedup(
    tables: str,
    duplicates: pa.Table,
    similar: pa.Table,
    storage: StorageConfig | None,
    images_version: int,
    details: dict,
    scopes: list[str] | None = None,
) -> None:
    """Replace the duplicates and similar tables at DST (``scopes``: only those scopes' rows): similar
    first, then duplicates (the commit point), recording the similar version, the images version dedup
    compared and ``details`` (read back with TablesSnapshot.details(duplicates, S.DEDUP_KEY))."""
    metadata = {S.IMAGES_VERSION_KEY: str(images_version), S.DEDUP_KEY: json.dumps(details)}
    _overwrite_group(tables, storage, (S.SIMILAR_TABLE, similar), (S.DUPLICATES_TABLE, duplicates), metadata, scopes)


def write_suggestions(
    tables: str,
    suggestions: pa.Table,
    storage: StorageConfig | None,
    versions: dict[str, int],
    details: dict,
    scopes: list[str] | None = None,
) -> None:
    """Replace the suggestions table at DST (``scopes``: only those scopes' rows) in one Delta commit that
    records the faces and tags versions the names came from (``versions``: S.*_VERSION_KEY -> version) and
    ``details`` (read back with TablesSnapshot.details(suggestions, S.SUGGEST_KEY))."""
    metadata = {**{key: str(version) for key, version in versions.items()}, S.SUGGEST_KEY: json.dumps(details)}
    _replace(
        store.join(tables, S.SUGGESTIONS_TABLE),
        suggestions.cast(S.SUGGESTIONS_SCHEMA),
        store.delta_storage_options(tables, storage),
        scopes,
        metadata,
    )


def referenced_files(table: str, storage: StorageConfig | None = None) -> set[str] | None:
    """The data files the current version of the Delta table at ``table`` refers to, as paths relative to the
    table; None when no table can be read there."""
    try:
        found = DeltaTable(table, storage_options=store.delta_storage_options(table, storage))
    except (DeltaError, OSError):  # no table, or a log that does not read
        return None
    return {urllib.parse.unquote(path) for path in pa.table(found.get_add_actions(flatten=True))["path"].to_pylist()}
