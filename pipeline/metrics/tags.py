"""How well names suggested for untagged faces match who is in them: precision, coverage, false alarm, by tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

BUCKETS = ("1", "2-4", "5+")  # how many of a person's faces are tagged


def tags_bucket(count: int) -> str | None:
    """The bucket of BUCKETS a person with ``count`` tagged faces falls in (None for 0)."""
    if count <= 0:
        return None
    return "1" if count == 1 else "2-4" if count <= 4 else "5+"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def tag_metrics(
    truth: Mapping[str, str | None],
    known: Collection[str],
    tags_per_person: Mapping[str, int],
    tagged: Collection[str],
    predicted: Mapping[str, str | None],
) -> dict:
    """Scores of the names ``predicted`` (face id -> name, None or absent: no name) against ``truth``
    (face id -> the person in it; the faces scored: None or absent for a face that is not, such as
    one of no labelled photo). ``known``: the tagged people; ``tags_per_person``: how many faces of
    each known person are tagged (absent: 0); ``tagged``: the ids of the tagged faces, never scored.

    Over the untagged scored faces, returns a dict:
    - ``precision``: right names / names given (a name on a face of a never-tagged person is wrong);
    - ``coverage``: right names / faces of known people;
    - ``false_alarm``: faces of never-tagged people given a name / their count;
    (each None when its denominator is 0)
    - ``by_tags_per_person``: for each bucket of BUCKETS, the same three figures where precision counts
      the names of the bucket's people, coverage their faces and false alarm the never-tagged
      people's faces given one of their names (over all such faces, so that the buckets add up),
      with ``people``, ``faces_to_name``, ``names_given``, ``right_names``, ``strangers_named``;
      known people with no tagged face of their own fall in no bucket;
    - ``counts``: ``scored_faces``, ``tagged_faces`` (of them), ``known_people``, ``faces_to_name``
      (untagged faces of known people), ``strangers`` (never-tagged people) and ``stranger_faces``,
      ``names_given``, ``right_names``, ``wrong_names_on_known`` (a known person's face given another
      name), ``strangers_named``, ``names_on_unscored_faces``.
    """
    known, tagged = set(known), set(tagged)
    bucket_of = {person: tags_bucket(tags_per_person.get(person, 0)) for person in known}
    totals: Counter[str] = Counter()
    by_bucket: dict[str | None, Counter[str]] = {bucket: Counter() for bucket in (*BUCKETS, None)}
    strangers: set[str] = set()
    for face, person in truth.items():
        if person is None:
            continue
        totals["scored_faces"] += 1
        if face in tagged:
            totals["tagged_faces"] += 1
            continue
        name = predicted.get(face)
        is_known = person in known
        if is_known:
            totals["faces_to_name"] += 1
            by_bucket[bucket_of[person]]["faces_to_name"] += 1
        else:
            strangers.add(person)
            totals["stranger_faces"] += 1
        if name is None:
            continue
        named = by_bucket[bucket_of.get(name)]
        totals["names_given"] += 1
        named["names_given"] += 1
        if name == person:
            totals["right_names"] += 1
            named["right_names"] += 1
        elif is_known:
            totals["wrong_names_on_known"] += 1
        else:
            totals["strangers_named"] += 1
            named["strangers_named"] += 1
    totals["names_on_unscored_faces"] = sum(
        1 for face, name in predicted.items() if name is not None and truth.get(face) is None and face not in tagged
    )
    people = Counter(bucket_of.values())
    buckets = {
        bucket: {
            "precision": _share(counts["right_names"], counts["names_given"]),
            "coverage": _share(counts["right_names"], counts["faces_to_name"]),
            "false_alarm": _share(counts["strangers_named"], totals["stranger_faces"]),
            "people": people[bucket],
            **{key: counts[key] for key in ("faces_to_name", "names_given", "right_names", "strangers_named")},
        }
        for bucket, counts in by_bucket.items()
        if bucket is not None
    }
    count_keys = ("scored_faces", "tagged_faces", "faces_to_name", "stranger_faces", "names_given", "right_names")
    return {
        "precision": _share(totals["right_names"], totals["names_given"]),
        "coverage": _share(totals["right_names"], totals["faces_to_name"]),
        "false_alarm": _share(totals["strangers_named"], totals["stranger_faces"]),
        "by_tags_per_person": buckets,
        "counts": {
            **{key: totals[key] for key in count_keys},
            "known_people": len(known),
            "strangers": len(strangers),
            **{key: totals[key] for key in ("wrong_names_on_known", "strangers_named", "names_on_unscored_faces")},
        },
    }
