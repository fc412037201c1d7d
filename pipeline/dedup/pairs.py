"""Which pairs of photos are copies of one photo, and which are only alike (burst shots).

A pair is found by its bytes (exact), its decoded pixels (same_pixels) or its PDQ hashes (a candidate
from pipeline.dedup.candidates). A candidate is a near duplicate when the distance is within
dedup.pdq_distance (dedup.unframed_distance for a photo out of its frame), both hashes are
trustworthy (PDQ quality), and the photos are not two exposures: two photos of one camera with
different EXIF capture times are never copies (a copy keeps its capture time or loses it), those
within dedup.burst_seconds are similar. Farther candidates, up to dedup.similar_distance, whose
central faces are of one person (at least the threshold service's dedup.same_person for the faces' model)
are similar too (pipeline.dedup.exposures reads back the rest)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import schema as S
from pipeline.dedup.candidates import VARIANTS

TWO_EXPOSURES = "two_exposures"  # similar links: copies by their hashes, two shots by their pixels


@dataclass(frozen=True)
class PairRules:
    """What makes a candidate pair copies or similar: PDQ distances (of 256 bits) within which hashes
    match (``unframed_distance`` for a photo's hash out of its frame), the PDQ quality both hashes need,
    the distance within which photos of one person are similar, the seconds apart of one camera's
    burst, and the similarity (``same_person``) at which two central faces are one person (None: faces
    decide nothing)."""

    pdq_distance: int
    unframed_distance: int
    min_pdq_quality: int
    similar_distance: int
    burst_seconds: float
    same_person: float | None


@dataclass(frozen=True)
class Photos:
    """The fingerprints of the photos being compared, as arrays indexed by photo."""

    sha256: np.ndarray  # object: hex strings
    pixel_sha256: np.ndarray
    pdq_quality: np.ndarray  # int, -1 without a hash
    captured: np.ndarray  # float seconds since the epoch, nan without EXIF capture time
    camera: np.ndarray  # object
    face: np.ndarray  # (n, dim) float32 central face embedding, zeros without a face
    has_face: np.ndarray  # bool
    width: np.ndarray  # int, upright pixels
    height: np.ndarray


@dataclass(frozen=True)
class Links:
    """Pairs (i < j) of one kind: ``kind`` per pair, a distance (0 for exact and same pixels) and the
    variant of the hash that matched (-1 when none did)."""

    i: np.ndarray
    j: np.ndarray
    kind: np.ndarray  # object: S.KIND_*
    distance: np.ndarray
    variant: np.ndarray  # of j's hash: j transformed so looks like i
    details: np.ndarray  # object: what a read-back found (an edited copy's evidence, dict), else None

    @classmethod
    def of(cls, i: np.ndarray, j: np.ndarray, kind: str, distance=None, variant=None, details=None) -> Links:
        """Links of one ``kind`` (distance 0 and no variant unless given)."""
        zeros = np.zeros(len(i), np.int64)
        return cls(
            np.asarray(i, np.int64),
            np.asarray(j, np.int64),
            np.full(len(i), kind, object),
            zeros if distance is None else np.asarray(distance, np.int64),
            zeros - 1 if variant is None else np.asarray(variant, np.int64),
            np.full(len(i), None, object) if details is None else np.asarray(details, object),
        )

    @classmethod
    def empty(cls) -> Links:
        return cls.of(np.zeros(0, np.int64), np.zeros(0, np.int64), "")

    @classmethod
    def concat(cls, parts: list[Links]) -> Links:
        if not parts:
            return cls.empty()
        names = ("i", "j", "kind", "distance", "variant", "details")
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))

    def take(self, chosen: np.ndarray, kind: str | None = None) -> Links:
        """The links ``chosen`` (a mask or indexes), relabelled ``kind`` when given."""
        kinds = self.kind[chosen] if kind is None else np.full(len(self.i[chosen]), kind, object)
        return Links(
            self.i[chosen], self.j[chosen], kinds, self.distance[chosen], self.variant[chosen], self.details[chosen]
        )

    def evidence(self, k: int) -> dict:
        """What made pair ``k`` a link."""
        if self.details[k] is not None:
            return self.details[k]
        if self.variant[k] >= 0:
            found = {"pdq_distance": int(self.distance[k]), "variant": VARIANTS[self.variant[k]]}
            return {**found, "two_exposures": True} if self.kind[k] == TWO_EXPOSURES else found
        if self.kind[k] in (S.KIND_EXACT, S.KIND_SAME_PIXELS):
            return {"same": "bytes" if self.kind[k] == S.KIND_EXACT else "decoded pixels"}
        return {"linked": "by an earlier run"}


def equal_value_links(values: np.ndarray, kind: str) -> Links:
    """Pairs chaining the photos that share a value (a hash): each photo linked to the previous one."""
    present = np.array([v is not None for v in values], bool)
    idx = np.flatnonzero(present)
    if not len(idx):
        return Links.empty()
    order = idx[np.argsort(values[idx].astype(str), kind="stable")]
    same = values[order][1:] == values[order][:-1]
    i, j = order[:-1][same], order[1:][same]
    return Links.of(np.minimum(i, j), np.maximum(i, j), kind)


def judge(candidates: np.ndarray, photos: Photos, rules: PairRules) -> tuple[Links, Links]:
    """Candidate rows (i, j, distance, variant) -> (near-duplicate links, similar links: kind
    TWO_EXPOSURES for two capture times of one camera, "similar" for the rest)."""
    i, j, distance, variant = (candidates[:, c] for c in range(4))
    trusted = (photos.pdq_quality[i] >= rules.min_pdq_quality) & (photos.pdq_quality[j] >= rules.min_pdq_quality)
    timed = ~np.isnan(photos.captured[i]) & ~np.isnan(photos.captured[j]) & (photos.camera[i] == photos.camera[j])
    apart = np.where(timed, np.abs(photos.captured[i] - photos.captured[j]), 0.0)
    two_exposures = timed & (apart > 0)
    burst = two_exposures & (apart <= rules.burst_seconds)
    unframed = variant == VARIANTS.index("unframed")
    near = trusted & ~two_exposures & (distance <= np.where(unframed, rules.unframed_distance, rules.pdq_distance))
    same_person = photos.has_face[i] & photos.has_face[j] & (rules.same_person is not None)
    if same_person.any():
        same_person &= np.einsum("ij,ij->i", photos.face[i], photos.face[j]) >= rules.same_person
    similar = ~near & (burst | (trusted & same_person & (distance <= rules.similar_distance)))

    found = Links.of(i, j, S.KIND_NEAR_DUPLICATE, distance, variant)
    stacked = found.take(similar, "similar")
    stacked.kind[two_exposures[similar]] = TWO_EXPOSURES
    return found.take(near), stacked
