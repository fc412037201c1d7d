"""Labelled faces for training: which photos show whom (a CSV of uri,person, or LFW's identity-disjoint
people.txt sets), and their aligned 112x112 crops, made by the embed pipeline itself: the embed job
detects every photo (into tables beside the training output, reused on reruns), and each labelled
photo's central face is warped with its landmarks exactly as embed warps it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import DecodeError
from pipeline.ingest.embed_job import embed
from pipeline.ingest.main_face import central_faces_index
from pipeline.io import store
from pipeline.io.readers import LfwPair, read_lfw_pairs, read_people_sets
from pipeline.io.tables import TablesSnapshot
from pipeline.models.align import CROP_SIZE, align_faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledCrops:
    """Aligned crops (N, 112, 112, 3) uint8 RGB, the person number of each and the photo it came from."""

    crops: np.ndarray
    labels: np.ndarray
    uris: np.ndarray

    def subset(self, rows: np.ndarray) -> LabelledCrops:
        return LabelledCrops(self.crops[rows], self.labels[rows], self.uris[rows])


def lfw_split(lfw_dir: str, test_fold: int) -> tuple[dict[str, str], list[LfwPair], dict[str, str]]:
    """Training photos (uri -> person) of the people of every people.txt set but ``test_fold``, the
    held-out fold's pairs of pairs.txt, and the photos those pairs name (uri -> person)."""
    root = Path(lfw_dir)
    if not (root / "people.txt").is_file() or not (root / "pairs.txt").is_file():
        raise ConfigError(f"{root} is not an LFW folder: expected people.txt and pairs.txt")
    sets = read_people_sets(root / "people.txt")
    if not 0 <= test_fold < len(sets):
        raise ConfigError(f"train.test_fold must be 0..{len(sets) - 1}")
    train_people = {name for k, names in enumerate(sets) if k != test_fold for name in names}
    images = root / "images"
    train = {
        str(photo.resolve()): name for name in sorted(train_people) for photo in sorted((images / name).glob("*.jpg"))
    }
    pairs = [pair for pair in read_lfw_pairs(root / "pairs.txt") if pair.fold == test_fold]
    test = {str((images / rel).resolve()): rel.split("/")[0] for pair in pairs for rel in (pair.a, pair.b)}
    if set(test.values()) & train_people:
        raise ConfigError(f"pairs of fold {test_fold} name people of the training sets: not an identity-disjoint split")
    return train, pairs, test


def aligned_crops(
    photos: dict[str, str], tables: str, config: Config, people: list[str] | None = None
) -> LabelledCrops:
    """The central face of each photo in ``photos`` (uri -> person), aligned; photos without a face
    are left out (and counted in the log). Detection runs as the embed job into ``tables``."""
    storage = config.resolved_storage()
    uris = sorted(photos)
    by_folder: dict[str, list[str]] = {}
    for uri in uris:  # the embed job takes a source folder; labelled photos may sit in several
        by_folder.setdefault(uri.rsplit("/", 1)[0], []).append(uri)
    root = _common_root(list(by_folder))
    listing = store.list_photos(root, storage, config.input.extensions)
    listing = listing.filter(pc.is_in(listing[S.URI], value_set=pa.array(uris)))
    if listing.num_rows != len(uris):
        raise ConfigError(f"{len(uris) - listing.num_rows} labelled photos are missing below {root}")
    embedded = embed(root, tables, config, listing=listing)
    log.info(
        "embed job for training photos: %d listed, %d processed, %d unchanged",
        embedded.listed,
        embedded.processed,
        embedded.unchanged,
    )
    snapshot = TablesSnapshot(tables, storage)
    images, faces = snapshot.read(S.IMAGES_TABLE), snapshot.read(S.FACES_TABLE)
    images = images.filter(pc.is_in(images[S.URI], value_set=listing[S.URI]))
    central = central_faces_index(images, faces)
    landmarks = S.matrix(faces[S.LANDMARKS])
    names = people if people is not None else sorted(set(photos.values()))
    number = {name: i for i, name in enumerate(names)}
    kept = [uri for uri in uris if uri in central]
    crops = np.empty((len(kept), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, (uri, decoded) in enumerate(PhotoChain.of(config).decoded(kept)):
        if isinstance(decoded, DecodeError):
            raise ConfigError(f"{uri} decoded for embed but not now: {decoded}")
        crops[i] = align_faces(decoded.pixels, landmarks[central[uri]][None])[0]
    log.info("aligned %d of %d labelled photos (%d without a face)", len(kept), len(uris), len(uris) - len(kept))
    return LabelledCrops(crops, np.array([number[photos[uri]] for uri in kept], np.int64), np.array(kept))


def _common_root(folders: list[str]) -> str:
    common = folders[0]
    for folder in folders[1:]:
        while not (folder == common or folder.startswith(common.rstrip("/") + "/")):
            common = common.rsplit("/", 1)[0]
    return common
