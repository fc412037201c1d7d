"""Duplicate groups scored against a library of known copies (a truth CSV of uri,original,kind,person,faces)."""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.io.store import is_s3
from pipeline.io.tables import TablesSnapshot
from pipeline.metrics.dedup import ORIGINAL, dedup_metrics

log = logging.getLogger(__name__)

LOSSLESS_KINDS = frozenset({"byte_copy", "png", "exif_rotated"})  # copies as good as their original
TRUTH_COLUMNS = ("uri", "original", "kind", "person", "faces")
_SUBSET_KEYS = ("photos", "pairwise_precision", "pairwise_recall", "recall_by_kind", "different_photos_grouped")


@dataclass(frozen=True)
class DedupTruth:
    """A library's known copies, by uri: the original each photo was made from (itself for an
    original), its kind (ORIGINAL or a copy kind), who is in it ("" for nobody) and whether it
    shows faces."""

    originals: dict[str, str]
    kinds: dict[str, str]
    persons: dict[str, str]
    faces: dict[str, bool]

    @property
    def full_quality(self) -> set[str]:
        """The originals and their lossless copies."""
        return {uri for uri, kind in self.kinds.items() if kind == ORIGINAL or kind in LOSSLESS_KINDS}

    def only(self, faces: bool) -> DedupTruth:
        """The photos with (or without) faces."""
        keep = {uri for uri, has in self.faces.items() if has == faces}
        pick = lambda column: {uri: value for uri, value in column.items() if uri in keep}
        return DedupTruth(pick(self.originals), pick(self.kinds), pick(self.persons), pick(self.faces))


def read_dedup_truth(path: str) -> DedupTruth:
    """The truth CSV at ``path`` (columns uri,original,kind,person,faces; faces yes/no). Relative uris
    and originals are resolved against the CSV's folder, as absolute paths like the tables' uris.
    Raises ConfigError for missing columns or an original that is not itself a row."""
    folder = os.path.dirname(os.path.abspath(path))
    where = lambda uri: uri if is_s3(uri) or os.path.isabs(uri) else os.path.abspath(os.path.join(folder, uri))
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not set(TRUTH_COLUMNS) <= set(reader.fieldnames):
            raise ConfigError(f"{path} must be a CSV with columns {','.join(TRUTH_COLUMNS)}")
        rows = [{**row, "uri": where(row["uri"]), "original": where(row["original"])} for row in reader]
    truth = DedupTruth(
        originals={row["uri"]: row["original"] for row in rows},
        kinds={row["uri"]: row["kind"] for row in rows},
        persons={row["uri"]: row["person"] for row in rows},
        faces={row["uri"]: row["faces"].strip().lower() == "yes" for row in rows},
    )
    orphans = set(truth.originals.values()) - set(truth.originals)
    if orphans:
        raise ConfigError(f"{path}: {len(orphans)} originals have no row of their own, e.g. {sorted(orphans)[0]}")
    return truth


def score_groups(groups: Mapping[str, str | None], keepers: Mapping[str, str], truth: DedupTruth) -> dict:
    """The dedup metrics (pipeline.metrics.dedup) of predicted ``groups`` (uri -> group id, None or
    absent: in no group) and their ``keepers`` (group id -> uri) against ``truth``, plus ``by_faces``:
    the same figures over the photos with faces ("yes") and without ("no"), counting only pairs
    inside each subset."""
    metrics = dedup_metrics(groups, truth.originals, truth.kinds, truth.full_quality, keepers, truth.persons)
    metrics["by_faces"] = {}
    for name, faces in (("yes", True), ("no", False)):
        subset = truth.only(faces)
        scored = dedup_metrics(groups, subset.originals, subset.kinds, subset.full_quality, None, subset.persons)
        metrics["by_faces"][name] = {key: scored[key] for key in _SUBSET_KEYS}
    return metrics


def evaluate_dedup(tables: str, truth: str, config: Config) -> dict:
    """The metrics of ``score_groups`` for the duplicates table at ``tables`` against the truth CSV at
    ``truth``, with ``predicted_kind_by_copy_kind`` (for grouped copies: the table's kind per
    copy kind), the dedup settings and summary the table records (``dedup``) and
    ``grouped_photos_not_in_truth``."""
    known = read_dedup_truth(truth)
    snapshot = TablesSnapshot(tables, config.resolved_storage())
    duplicates = snapshot.read(S.DUPLICATES_TABLE, [S.GROUP_ID, S.URI, S.KIND, S.ROLE])
    uris, group_ids = duplicates[S.URI].to_pylist(), duplicates[S.GROUP_ID].to_pylist()
    kinds, roles = duplicates[S.KIND].to_pylist(), duplicates[S.ROLE].to_pylist()
    groups = dict(zip(uris, group_ids))
    keepers = {group: uri for uri, group, role in zip(uris, group_ids, roles) if role == S.ROLE_KEEP}
    metrics = score_groups(groups, keepers, known)
    predicted_kinds: dict[str, Counter[str]] = {}
    for uri, kind in zip(uris, kinds):
        if known.kinds.get(uri, ORIGINAL) != ORIGINAL:
            predicted_kinds.setdefault(known.kinds[uri], Counter())[kind] += 1
    metrics["predicted_kind_by_copy_kind"] = {k: dict(c) for k, c in sorted(predicted_kinds.items())}
    metrics["grouped_photos_not_in_truth"] = len(set(uris) - set(known.originals))
    metrics["dedup"] = snapshot.details(S.DUPLICATES_TABLE, S.DEDUP_KEY)
    log.info(
        "dedup at %s: pairwise precision %.4f, recall %.4f over %d photos",
        tables,
        metrics["pairwise_precision"],
        metrics["pairwise_recall"],
        metrics["photos"],
    )
    return metrics
