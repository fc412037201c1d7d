"""How the images and faces tables are laid out so that reading one library touches few files.

A store holds the photos of 100,000+ libraries in one images and one faces table (no directory per
library). Each table is partitioned by a bucket of its rows' library (a stable hash of the library id
modulo the table's bucket count, recorded in the table's description when it is created, so a later
run configured otherwise keeps the table's own count), and the rows each commit writes are sorted by
library, so that each file's min/max statistics on the library are narrow. A read of some libraries
opens only the files of their buckets whose statistics can hold them.

The bucket column is a storage detail: rows gain it on their way into a table (``with_buckets``)
and reads leave it out (it is in no declared schema of pipeline.schema). Tables written before this
layout are not partitioned: their files are chosen by their statistics on the library alone.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable

from pipeline import schema as S

BUCKET = "library_bucket"  # the partition column: bucket_of(library, the table's bucket count)
_LAYOUT_KEY = "facepipe.layout"  # the key of the table description's JSON that records the layout
# A file under this size is small: compaction rewrites a bucket when it holds several. Half deltalake's target
# size of the files it writes (100 MiB): a bucket it split into files of the target size ends with at most one
# file smaller than that, so a bucket no commit touched since is not rewritten again
SMALL_FILE_BYTES = 50 * 1024 * 1024


def bucket_of(library: str, buckets: int) -> int:
    """The bucket of ``library`` among ``buckets``: the first 8 bytes of its id's SHA-1, modulo
    ``buckets`` (stable across processes and versions, unlike Python's hash)."""
    return int.from_bytes(hashlib.sha1(library.encode()).digest()[:8], "big") % buckets


def layout_description(buckets: int, description: dict | None = None) -> str:
    """The description (JSON) a new table is created with: ``description`` and the layout of
    ``buckets`` buckets."""
    return json.dumps({**(description or {}), _LAYOUT_KEY: {"library_buckets": buckets}})


def table_buckets(table: DeltaTable) -> int | None:
    """The bucket count a table was created with; None for a table written before this layout
    (not partitioned)."""
    if BUCKET not in table.metadata().partition_columns:
        return None
    return json.loads(table.metadata().description or "{}")[_LAYOUT_KEY]["library_buckets"]


def create_options(schema: pa.Schema, buckets: int, description: dict | None = None) -> dict:
    """The write_deltalake arguments that create an empty table of ``schema`` laid out in ``buckets``."""
    return {
        "data": with_buckets(schema.empty_table(), buckets),
        "partition_by": [BUCKET],
        "description": layout_description(buckets, description),
    }


def with_buckets(rows: pa.Table, buckets: int | None) -> pa.Table:
    """``rows`` sorted by library (so a written file's statistics on it are narrow), with their bucket
    column for a table of ``buckets`` buckets (None: a table written before this layout gets none).
    Rows without a library are the default library's and share its bucket."""
    if S.LIBRARY not in rows.column_names:
        return rows
    rows = rows.sort_by(S.LIBRARY)
    if buckets is None:
        return rows
    libraries = pc.fill_null(rows[S.LIBRARY], S.DEFAULT_LIBRARY)
    distinct = pc.unique(libraries)
    of_distinct = pa.array([bucket_of(name, buckets) for name in distinct.to_pylist()], pa.int32())
    return rows.append_column(pa.field(BUCKET, pa.int32()), pc.take(of_distinct, pc.index_in(libraries, distinct)))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def files_predicate(table: DeltaTable, libraries: list[str]) -> str | None:
    """A predicate (SQL, for deltalake's file pruning) that keeps the files of ``table`` that can hold
    rows of ``libraries``: those of their buckets whose min/max library can hold one of them (files
    without statistics are kept). None when every file can: a table without a library column, whose
    rows are all the default library's."""
    if S.LIBRARY not in table.schema().to_arrow().names:
        return None
    if not libraries:
        return "FALSE"
    names = " OR ".join(f"{S.LIBRARY} = {_quoted(name)}" for name in sorted(set(libraries)))
    if S.DEFAULT_LIBRARY in libraries:  # rows of files written before the column existed, merged in since
        names += f" OR {S.LIBRARY} IS NULL"
    buckets = table_buckets(table)
    if buckets is None:
        return names
    wanted = sorted({bucket_of(name, buckets) for name in libraries})
    return f"{BUCKET} IN ({', '.join(map(str, wanted))}) AND ({names})"


def library_files(table: DeltaTable, libraries: list[str]) -> list[str]:
    """The files (URIs) a read of ``libraries`` from ``table`` opens."""
    return table.file_uris(file_pruning_predicate=files_predicate(table, libraries))


def compact(table: DeltaTable, commit_properties: CommitProperties | None = None) -> dict:
    """Merge the small files of ``table`` (the commits since its last compaction left), each of its
    buckets holding several apart, sorting rows by library so each file's statistics on it stay narrow;
    one commit (with ``commit_properties``) whatever the number of buckets. A table written before this
    layout is compacted whole. Returns the files before and after, and the buckets rewritten."""
    # z-ordered on the library alone, which is sorting by it: deltalake's compact would bin-pack the small files
    # as they come, each merged file spanning the libraries of all of them
    before = len(table.file_uris())
    buckets = table_buckets(table)
    if buckets is None:
        table.optimize.compact(commit_properties=commit_properties)
        table.update_incremental()
        return {"files_before": before, "files_after": len(table.file_uris()), "buckets_compacted": None}
    actions = pa.table(table.get_add_actions(flatten=True))
    small = actions.filter(pc.less(actions["size_bytes"], SMALL_FILE_BYTES))
    per_bucket = small.group_by(f"partition.{BUCKET}").aggregate([("path", "count")])
    touched = per_bucket.filter(pc.greater(per_bucket["path_count"], 1))[f"partition.{BUCKET}"].to_pylist()
    if touched:
        table.optimize.z_order(
            [S.LIBRARY],
            partition_filters=[(BUCKET, "in", [str(bucket) for bucket in touched])],
            commit_properties=commit_properties,
        )
        table.update_incremental()
    return {"files_before": before, "files_after": len(table.file_uris()), "buckets_compacted": len(touched)}
