"""Which library each listed photo of a run belongs to: one named library for all of SRC (``--library L``),
the default library when none is named, or the folder directly below SRC that holds it
(``--libraries-by-folder``). Returns the libraries the run lists in full: those are reconciled with SRC (a
photo gone from SRC leaves its library), and no other library is touched."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store


def assign_libraries(
    listing: pa.Table,
    committed: pa.Table,
    src: str,
    storage: StorageConfig | None,
    library: str | None = None,
    by_folder: bool = False,
) -> tuple[pa.Table, set[str]]:
    """(``listing`` of ``src`` with each photo's library filled in where it is null, the libraries the run
    lists in full). ``committed``: the images rows (URI and LIBRARY), for the libraries by folder whose
    folder has gone from ``src``: they are listed in full too (empty), so that their photos leave them."""
    if library is not None and by_folder:
        raise ConfigError("name one library (--library) or take each from its folder (--libraries-by-folder), not both")
    if S.LIBRARY not in listing.column_names:  # a listing made before libraries
        listing = listing.append_column(S.LIBRARY, pa.nulls(listing.num_rows, pa.string()))
    given = listing[S.LIBRARY]
    if not by_folder:
        name = S.checked_id(S.DEFAULT_LIBRARY if library is None else library)
        filled = pc.fill_null(given, name)
        return _set_library(listing, filled), {*pc.unique(filled).to_pylist(), name}
    uris = listing[S.URI].to_pylist()
    folders = store.folders_below(src, uris, storage)
    loose = [uri for uri, folder in zip(uris, folders) if folder is None]
    if loose:
        raise ConfigError(
            f"{len(loose)} photos lie directly in {src}, e.g. {loose[0]}: with --libraries-by-folder each photo "
            "must be inside the folder named after its library"
        )
    filled = pc.fill_null(given, pa.array([S.checked_id(folder) for folder in folders], pa.string()))
    below = store.folders_below(src, committed[S.URI].to_pylist(), storage)
    gone = {row for row, folder in zip(committed[S.LIBRARY].to_pylist(), below) if folder is not None}
    return _set_library(listing, filled), {*pc.unique(filled).to_pylist(), *(gone - {None})}


def _set_library(listing: pa.Table, libraries: pa.ChunkedArray | pa.Array) -> pa.Table:
    return listing.set_column(listing.column_names.index(S.LIBRARY), S.LIBRARY, libraries)
