"""What is forgotten stays forgotten: the forgotten table at DST keeps, for each photo and face `facepipe forget`
erased, only salted hashes of its uri and library (and a face's box), so that later runs skip the photo, or do
not write the face again, while the photo is still at SRC, until its owner lifts the tombstone. The salt is
random, made when the table is created and kept in its description: without it the hashes say nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.io import store
from pipeline.io.fence import fenced_commit, write_modes

_SALT_KEY = "facepipe.salt"
SAME_FACE_IOU = 0.5  # a face detected again in a forgotten face's place is that face


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Intersection over union of each row of ``boxes`` (x1, y1, x2, y2) with ``box``."""
    width = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = width * height
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area(boxes) + area(box) - inter, 1e-9)


class Tombstones:
    """The forgotten table at ``tables`` as it is now (none yet: nothing is forgotten)."""

    def __init__(self, tables: str, storage: StorageConfig | None):
        self.path = store.join(tables, S.FORGOTTEN_TABLE)
        self.options = store.delta_storage_options(tables, storage)
        try:
            self.table: DeltaTable | None = DeltaTable(self.path, storage_options=self.options)
        except TableNotFoundError:
            self.table = None
        self._rows = None if self.table is None else self.table.to_pyarrow_table().select(S.FORGOTTEN_SCHEMA.names)
        self._salt_text: str | None = None

    def _salt(self) -> str:
        """The table's salt, made with the table when there is none yet."""
        if self._salt_text is not None:
            return self._salt_text
        if self.table is None:
            with fenced_commit(self.path, self.options) as (target, properties):
                write_deltalake(
                    target,
                    S.FORGOTTEN_SCHEMA.empty_table(),
                    **write_modes(target, "append"),
                    storage_options=self.options,
                    commit_properties=properties,
                    description=json.dumps({_SALT_KEY: secrets.token_hex(32)}),
                )
            self.table = DeltaTable(self.path, storage_options=self.options)
            self._rows = S.FORGOTTEN_SCHEMA.empty_table()
        self._salt_text = json.loads(self.table.metadata().description)[_SALT_KEY]
        return self._salt_text

    def key(self, text: str) -> str:
        """The salted hash that stands for ``text`` (a uri, a library id) in the table."""
        return hashlib.sha256((self._salt() + "\x00" + text).encode()).hexdigest()

    def _of_kind(self, kind: str) -> pa.Table:
        if self._rows is None:
            return S.FORGOTTEN_SCHEMA.empty_table()
        return self._rows.filter(pc.equal(self._rows[S.KIND], kind))

    def kept(self, listing: pa.Table) -> tuple[pa.Table, int]:
        """The rows of ``listing`` (a uri column) whose photo is not forgotten, and how many were left out."""
        photos = self._of_kind(S.FORGOTTEN_PHOTO)
        if not photos.num_rows or not listing.num_rows:
            return listing, 0
        keys = pa.array([self.key(uri) for uri in listing[S.URI].to_pylist()], pa.string())
        forgotten = pc.is_in(keys, value_set=photos[S.KEY])
        return listing.filter(pc.invert(forgotten)), int(pc.sum(forgotten).as_py() or 0)

    def kept_faces(self, faces: pa.Table) -> tuple[pa.Table, int]:
        """The rows of ``faces`` (uri and bbox columns) that are not a forgotten face of their photo (a box
        overlapping a forgotten one's by SAME_FACE_IOU), and how many were left out."""
        stones = self._of_kind(S.FORGOTTEN_FACE)
        if not stones.num_rows or not faces.num_rows:
            return faces, 0
        boxes_of: dict[str, list] = {}
        for key, box in zip(stones[S.KEY].to_pylist(), stones[S.BBOX].to_pylist()):
            boxes_of.setdefault(key, []).append(box)
        keep = []
        for uri, box in zip(faces[S.URI].to_pylist(), faces[S.BBOX].to_pylist()):
            forgotten = boxes_of.get(self.key(uri))
            keep.append(not forgotten or not bool((_iou(np.array(forgotten), np.array(box)) >= SAME_FACE_IOU).any()))
        mask = pa.array(keep, pa.bool_())
        return faces.filter(mask), faces.num_rows - int(pc.sum(mask).as_py() or 0)

    def bury(self, photos: list[tuple[str, str]], faces: list[tuple[str, str, list]], run_id: str) -> int:
        """Add the tombstones of ``photos`` ((uri, library)) and ``faces`` ((uri, library, bbox)) that the table
        does not hold yet, in one commit; how many were added."""
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            {S.KEY: self.key(uri), S.LIBRARY_KEY: self.key(library), S.KIND: S.FORGOTTEN_PHOTO, S.BBOX: None}
            for uri, library in photos
        ] + [
            {S.KEY: self.key(uri), S.LIBRARY_KEY: self.key(library), S.KIND: S.FORGOTTEN_FACE, S.BBOX: list(box)}
            for uri, library, box in faces
        ]
        held = {(row[S.KEY], row[S.KIND], tuple(row[S.BBOX] or ())) for row in self._rows.to_pylist()}
        fresh = {(row[S.KEY], row[S.KIND], tuple(row[S.BBOX] or ())): row for row in rows}
        added = [{**row, S.FORGOTTEN_AT: now, S.RUN_ID: run_id} for key, row in fresh.items() if key not in held]
        if added:
            with fenced_commit(self.table) as (table, properties):
                rows = pa.Table.from_pylist(added, S.FORGOTTEN_SCHEMA)
                write_deltalake(table, rows, mode="append", storage_options=self.options, commit_properties=properties)
            self.table.update_incremental()
            self._rows = self.table.to_pyarrow_table().select(S.FORGOTTEN_SCHEMA.names)
        return len(added)

    def lift(self, library: str | None = None, uris: list[str] | None = None) -> int:
        """Remove the tombstones of ``library``'s photos and faces, or of the photos ``uris`` (and their faces), in
        one commit: later runs process them again. How many were removed."""
        if self.table is None or not self._rows.num_rows:
            return 0
        if library is not None:
            gone = pc.equal(self._rows[S.LIBRARY_KEY], self.key(library))
        else:
            gone = pc.is_in(self._rows[S.KEY], value_set=pa.array([self.key(uri) for uri in uris or []], pa.string()))
        count = int(pc.sum(gone).as_py() or 0)
        if count:
            with fenced_commit(self.table) as (table, properties):
                write_deltalake(
                    table,
                    self._rows.filter(pc.invert(gone)).cast(S.FORGOTTEN_SCHEMA),
                    mode="overwrite",
                    storage_options=self.options,
                    commit_properties=properties,
                )
            self.table.update_incremental()
            self._rows = self.table.to_pyarrow_table().select(S.FORGOTTEN_SCHEMA.names)
        return count
