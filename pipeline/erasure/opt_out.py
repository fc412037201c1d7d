"""`facepipe library set --faces off | on`: a library's owner opts out of face recognition (its existing face
data erased as `facepipe forget` erases, its photos kept with their dedup fingerprints, no face computed for them
from then on) or back in (faces computed again at the next run)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.erasure.forget import ErasureResult, Targets, erase_everywhere
from pipeline.errors import ConfigError
from pipeline.io.library_run import library_run
from pipeline.io.library_settings import set_faces
from pipeline.io.tables import TablesSnapshot
from pipeline.io.tags_table import read_tags


@dataclass(frozen=True)
class LibrarySetResult(ErasureResult):
    """What `library set` did: the library, its faces setting now, whether it changed, the faces erased, and the
    run's steps."""

    run_id: str
    library: str
    faces: str
    changed: bool
    faces_erased: int
    steps: list


def set_library_faces(tables: str, library: str, on: bool, config: Config | None = None) -> LibrarySetResult:
    """Turn faces off (``on`` False) or on for ``library`` at the store ``tables``. Off: the setting is recorded
    first (a run after a crash computes no face for it), then its faces, their tags, the results made from them,
    the pages that show them and the tables' history are erased; later runs fingerprint its photos and compute no
    face (status faces_off). On: the next run computes its photos' faces again. Running it again completes an
    erasure a crash stopped. Holds the store's lease and records the run. ConfigError for a store without tables."""
    config = config or load_config()
    S.checked_id(library)
    storage = config.resolved_storage()
    if TablesSnapshot(tables, storage).version(S.IMAGES_TABLE) is None:
        raise ConfigError(f"no facepipe tables at {tables}: run `facepipe embed --library {library}` first")
    command = f"facepipe library set --tables {tables} --library {library} --faces {'on' if on else 'off'}"
    erased = 0
    with library_run(tables, command, config) as run:
        with run.step("setting") as counts:
            counts["changed"] = changed = set_faces(tables, storage, library, on, run.run_id)
        if not on:
            erased = erase_everywhere(tables, config, run, _faces_of(tables, config, library))["faces"]
    return LibrarySetResult(run.run_id, library, "on" if on else "off", changed, erased, run.steps())


def _faces_of(tables: str, config: Config, library: str) -> Targets:
    """Every face of ``library`` and every tag on them (its photos stay)."""
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    faces = snapshot.read(S.FACES_TABLE, [S.FACE_ID, S.URI, S.LIBRARY, S.BBOX], libraries=[library])
    tags = read_tags(tables, storage)
    tags = tags.filter(pc.is_in(tags[S.FACE_ID], value_set=faces[S.FACE_ID]))
    photos = pa.table({S.URI: pa.array([], pa.string()), S.LIBRARY: pa.array([], pa.string())})
    tag_rows = list(zip(tags[S.FACE_ID].to_pylist(), tags[S.NAME].to_pylist()))
    return Targets(photos, faces, tag_rows, whole_photos=False, bury=False, faces_off=library)
