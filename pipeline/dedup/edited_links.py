"""Links from reading photos back (pipeline.dedup.edits), when ``dedup.edits`` is on: edited copies among
the candidates the keypoints and the hashes found, and edited copies among the keepers.

A group joined by hashes alone can hold an edited copy that wins the keeper order (pipeline.dedup.keeper)
by what its edit added: a blurred fit or a caption has more pixels than its photo, a sticker or a tinted
filter brings colour to a greyscale photo. So a keeper that wins by pixels or colour is read back against
its runner-up; when it is an edited copy of the runner-up it is marked as one (a link naming it edited),
and the group's keeper is chosen again, up to KEEPER_ROUNDS times."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.dedup.edits import Comparison, compare_pairs
from pipeline.dedup.keeper import Copy, ranked
from pipeline.dedup.keypoint_pairs import keypoint_pairs
from pipeline.dedup.pairs import TWO_EXPOSURES, Links
from pipeline.ingest.chain import PhotoChain
from pipeline.runtime.tasks import Tasks

log = logging.getLogger(__name__)

# Two photos read back as two exposures keep apart the groups they are in only when each shows most of
# the other (a burst is framed alike); two edits of one photo (a caption and a blurred fit, each with
# canvas of its own) differ where their canvases meet and prove nothing.
SAME_FRAMING = 0.8
KEEPER_ROUNDS = 3  # keepers read back per group at most (an original with a blurred fit and a caption: 2)
WON_BY_EDITS = ("pixels", "colour")  # the keeper-order criteria an edit can win by


def edit_kind(edits: tuple[str, ...]) -> str:
    """The duplicates table's kind of a copy edited as ``edits`` (none found: a plain near duplicate)."""
    if not edits:
        return S.KIND_NEAR_DUPLICATE
    return edits[0] if len(edits) == 1 else S.KIND_STACKED


def _edited_link(i: int, j: int, comparison: Comparison, uris: list[str]) -> tuple[int, int, str, dict]:
    """The link of a pair read back as a copy: (i, j, its kind, details naming the original and the edited)."""
    original = {0: uris[i], 1: uris[j]}.get(comparison.original)
    edited = {0: uris[j], 1: uris[i]}.get(comparison.original)
    details = {"edits": list(comparison.edits), "original": original, "edited": edited, **comparison.evidence}
    return i, j, edit_kind(comparison.edits), details


def _links(found: list[tuple[int, int, str, dict]]) -> Links:
    return Links.concat([Links.of([i], [j], kind, details=[details]) for i, j, kind, details in found])


def edited_copies(
    images: pa.Table,
    uris: list[str],
    linked: np.ndarray,
    exposures: Links,
    min_agreeing: int,
    chain: PhotoChain,
    tasks: Tasks | None = None,
    queries: np.ndarray | None = None,
) -> tuple[Links, Links]:
    """(edited copies, two exposures) among the photos whose keypoints agree on one transform (at least
    ``min_agreeing`` matches: pipeline.dedup.keypoint_pairs) and the PDQ candidates read back as two
    exposures (``exposures``: a free crop's hash can match a centred crop's, whose check cannot line them
    up), each read back through ``chain`` and compared; candidates ``linked`` already puts in one group (a
    group label per photo, -1 for none) are not."""
    sizes = np.stack([images[name].fill_null(0).to_numpy(zero_copy_only=False) for name in (S.WIDTH, S.HEIGHT)], axis=1)
    found = keypoint_pairs(images[S.KEYPOINTS].to_pylist(), sizes, min_agreeing, queries, tasks)
    found = np.concatenate([found[:, :2], np.stack([exposures.i, exposures.j], axis=1)]).astype(np.int64)
    found = np.unique(np.sort(found, axis=1), axis=0)
    apart = (linked[found[:, 0]] < 0) | (linked[found[:, 0]] != linked[found[:, 1]])
    pairs = [(int(i), int(j)) for i, j in found[apart]]
    compared = compare_pairs(pairs, uris, chain, tasks)
    log.info("%d candidate edited copies read back: %s", len(pairs), dict(Counter(c.verdict for c in compared)))
    copies, shots = [], []
    for (i, j), comparison in zip(pairs, compared):
        framed_alike = min(comparison.evidence.get("first_shown", 0), comparison.evidence.get("second_shown", 0))
        if comparison.verdict == "two_exposures" and framed_alike >= SAME_FRAMING:
            shots.append((i, j, {**comparison.evidence, "two_exposures": True}))
        elif comparison.verdict == "copy":
            copies.append(_edited_link(i, j, comparison, uris))
    two_exposures = Links.of(
        [i for i, _, _ in shots], [j for _, j, _ in shots], TWO_EXPOSURES, details=[d for _, _, d in shots]
    )
    return _links(copies), two_exposures


def edited_ones(links: Links, uris: list[str]) -> set[int]:
    """The photos ``links`` name as edited copies of another."""
    at = {uri: k for k, uri in enumerate(uris)}
    return {at[d["edited"]] for d in links.details if d is not None and d.get("edited") in at}


def keeper_of(
    members: list[int], copies: Sequence[Copy] | dict[int, Copy], edited: set[int]
) -> tuple[int, int | None, str]:
    """(keeper, runner-up or None, the criterion of the keeper order that set them apart) of a group's
    ``members``: an edited copy is never the keeper while the group holds a photo that is not one."""
    sources = [p for p in members if p not in edited] or members
    order, decided = ranked([copies[p] for p in sources])
    return sources[order[0]], sources[order[1]] if len(order) > 1 else None, decided


def edited_keepers(
    images: pa.Table, uris: list[str], links: Links, labels: np.ndarray, chain: PhotoChain, tasks: Tasks | None = None
) -> Links:
    """Links naming the keepers (of the groups ``labels`` makes of ``links``) that are edited copies of their
    runner-up, read back through ``chain`` as ``tasks`` (see the module's description)."""
    grouped = [int(photo) for photo in np.flatnonzero(labels >= 0)]
    rows = images.select([*Copy.COLUMNS, S.SHA256, S.PIXEL_SHA256]).take(grouped).to_pylist()
    copies = {photo: Copy.of(row) for photo, row in zip(grouped, rows)}
    hashes = {photo: (row[S.SHA256], row[S.PIXEL_SHA256]) for photo, row in zip(grouped, rows)}
    edited = edited_ones(links, uris)
    groups: dict[int, list[int]] = {}
    for photo in grouped:
        groups.setdefault(int(labels[photo]), []).append(photo)
    found, todo = [], list(groups)
    for _ in range(KEEPER_ROUNDS):
        pairs = []
        for group in todo:
            keeper, runner_up, decided = keeper_of(groups[group], copies, edited)
            differ = runner_up is not None and all(a != b for a, b in zip(hashes[keeper], hashes[runner_up]))
            if differ and decided in WON_BY_EDITS:
                pairs.append((keeper, runner_up))
        if not pairs:
            break
        compared = compare_pairs(pairs, uris, chain, tasks)
        todo = []
        for (keeper, runner_up), comparison in zip(pairs, compared):
            if comparison.verdict == "copy" and comparison.original == 1:  # the runner-up is the keeper's original
                found.append(_edited_link(keeper, runner_up, comparison, uris))
                edited.add(keeper)
                todo.append(int(labels[keeper]))
        log.info("%d keepers read back against their runner-up: %d are edited copies", len(pairs), len(todo))
    return _links(found)
