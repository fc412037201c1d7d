"""How well duplicate groups match known copies: pairwise precision / recall / F, recall per copy kind,
different photos grouped, and whether each group keeps a full-quality copy.

Pairs are counted from group sizes (a group of n photos holds n * (n - 1) / 2 pairs), never enumerated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping

ORIGINAL = "original"  # the kind of a photo that copies were made from


def _pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def _pairs_within(keys: Iterable[Hashable]) -> int:
    """Pairs of items sharing a key, from how many items each key has."""
    return _pairs(Counter(keys).values())


def dedup_metrics(
    groups: Mapping[str, str | None],
    originals: Mapping[str, str],
    kinds: Mapping[str, str],
    full_quality: Collection[str],
    keepers: Mapping[str, str] | None = None,
    persons: Mapping[str, str | None] | None = None,
) -> dict:
    """Scores of predicted duplicate ``groups`` (photo id -> group id, None or absent: in no group)
    against the truth: ``originals`` (photo id -> the id of the photo it is a copy of; an original
    maps to itself), ``kinds`` (photo id -> ORIGINAL or the kind of copy), ``full_quality`` (ids of
    the photos as good as their original: itself and its lossless copies), ``keepers`` (group id ->
    the photo the group keeps) and ``persons`` (photo id -> who is in it; None or "" for nobody).

    The photos scored are the keys of ``originals``; grouped photos outside them are ignored.

    Returns a dict:
    - ``pairwise_precision`` / ``pairwise_recall`` / ``pairwise_f``: over pairs of photos, a pair
      being true when both are copies of one original (the original included) and predicted when
      both share a group (1.0 when there is no pair to find or none predicted);
    - ``recall_by_kind``: for each copy kind K, the share of (original, copy of kind K) pairs whose
      two photos share a group; ``copies_by_kind``: how many copies of kind K there are;
    - ``different_photos_grouped``: ``pairs``, grouped pairs that are not copies of one original;
      ``originals``, pairs of different originals whose photos share a group (each group counted:
      one wrong merge of two photos with 12 copies each is 169 pairs but 1 pair of originals); and
      ``same_person`` (with ``persons``), how many of the ``pairs`` are two photos of one person;
    - ``keeper_right``: among the groups holding a full-quality photo (``keeper_groups`` of them),
      the share whose keeper is one (None without ``keepers`` or such groups);
    - counts: ``photos``, ``photos_grouped``, ``groups``, ``largest_group`` (its photos),
      ``true_pairs``, ``predicted_pairs``, ``pairs_found``.
    Raises ValueError when an original named in ``originals`` is not itself one of the photos.
    """
    missing = set(originals.values()) - set(originals)
    if missing:
        raise ValueError(f"{len(missing)} originals are not photos of the truth, e.g. {sorted(missing)[:3]}")
    grouped = {photo: groups[photo] for photo in originals if groups.get(photo) is not None}
    full_quality = set(full_quality)

    true_pairs = _pairs_within(originals.values())
    group_sizes = Counter(grouped.values())
    predicted_pairs = _pairs(group_sizes.values())
    found = _pairs_within((group, originals[photo]) for photo, group in grouped.items())
    precision = found / predicted_pairs if predicted_pairs else 1.0
    recall = found / true_pairs if true_pairs else 1.0

    copies: Counter[str] = Counter()
    found_by_kind: Counter[str] = Counter()
    for photo, original in originals.items():
        kind = kinds[photo]
        if kind == ORIGINAL:
            continue
        copies[kind] += 1
        found_by_kind[kind] += photo in grouped and grouped[photo] == grouped.get(original)

    originals_per_group = Counter(group for group, _ in {(g, originals[photo]) for photo, g in grouped.items()})
    different = {
        "pairs": predicted_pairs - found,
        "originals": _pairs(originals_per_group.values()),
        "same_person": None,
    }
    if persons is not None:
        with_person = [(photo, group, persons.get(photo)) for photo, group in grouped.items() if persons.get(photo)]
        different["same_person"] = _pairs_within((group, person) for _, group, person in with_person) - _pairs_within(
            (group, person, originals[photo]) for photo, group, person in with_person
        )

    keeper_groups = keepers_right = 0
    if keepers is not None:
        holding_full_quality = {group for photo, group in grouped.items() if photo in full_quality}
        keeper_groups = len(holding_full_quality)
        keepers_right = sum(keepers.get(group) in full_quality for group in holding_full_quality)

    return {
        "photos": len(originals),
        "photos_grouped": len(grouped),
        "groups": len(group_sizes),
        "largest_group": max(group_sizes.values(), default=0),
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
        "pairs_found": found,
        "pairwise_precision": precision,
        "pairwise_recall": recall,
        "pairwise_f": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "recall_by_kind": {kind: found_by_kind[kind] / n for kind, n in sorted(copies.items())},
        "copies_by_kind": dict(sorted(copies.items())),
        "different_photos_grouped": different,
        "keeper_right": keepers_right / keeper_groups if keeper_groups else None,
        "keeper_groups": keeper_groups,
    }
