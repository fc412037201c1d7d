"""The strings an audit looks for (uris, image ids, face ids), in every spelling facepipe writes them in, found
in bytes, text and columns of strings in one pass whatever their number (an Aho-Corasick automaton)."""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Iterable

import ahocorasick
import pyarrow as pa

from pipeline.ingest.thumbnails import photo_thumbnail_name

URIS, IMAGE_IDS, FACE_IDS = "uris", "image_ids", "face_ids"
KINDS = (URIS, IMAGE_IDS, FACE_IDS)


def spellings(value: str, kind: str) -> set[str]:
    """``value`` as it may be written: as is; inside JSON (escaped, and escaped twice: a Delta log's statistics
    are JSON inside JSON); in HTML; in a link (percent-encoded); a uri also as the name of its photo's thumbnail
    in a duplicates review."""
    once = {json.dumps(value, ensure_ascii=ascii_only)[1:-1] for ascii_only in (True, False)}
    twice = {json.dumps(form, ensure_ascii=ascii_only)[1:-1] for form in once for ascii_only in (True, False)}
    forms = {value, *once, *twice, html.escape(value), urllib.parse.quote(value)}
    if kind == URIS:
        forms.add(photo_thumbnail_name(value))
    return {form for form in forms if form}


def _as_bytes(text: str) -> str:
    """``text``'s UTF-8 bytes, one character per byte: the alphabet the automaton runs on, so that the same
    automaton searches text and binary files alike."""
    return text.encode().decode("latin-1")


class SoughtStrings:
    """Values of each kind (URIS, IMAGE_IDS, FACE_IDS) to look for; a value is found where any of its
    spellings occurs, whole or inside a longer string."""

    def __init__(self, values: dict[str, Iterable[str]]):
        self.values = {kind: frozenset(values.get(kind, ())) for kind in KINDS}
        self._meaning: dict[str, set[tuple[str, str]]] = {}
        for kind, sought in self.values.items():
            for value in sought:
                for form in spellings(value, kind):
                    self._meaning.setdefault(_as_bytes(form), set()).add((kind, value))
        self._automaton = ahocorasick.Automaton()
        for key in self._meaning:
            self._automaton.add_word(key, key)
        if self._meaning:
            self._automaton.make_automaton()
        self.longest = max(map(len, self._meaning), default=0)  # bytes: the overlap of chunks read in turn

    def __bool__(self) -> bool:
        return bool(self._meaning)

    def counts(self) -> dict[str, int]:
        """How many values of each kind are sought."""
        return {kind: len(values) for kind, values in self.values.items()}

    def in_bytes(self, data: bytes) -> set[tuple[str, str]]:
        """The (kind, value) pairs one of whose spellings occurs in ``data``."""
        if not self._meaning:
            return set()
        found: set[tuple[str, str]] = set()
        for _, key in self._automaton.iter(data.decode("latin-1")):
            found |= self._meaning[key]
        return found

    def in_text(self, text: str) -> set[tuple[str, str]]:
        """The (kind, value) pairs one of whose spellings occurs in ``text``."""
        return self.in_bytes(text.encode())

    def in_strings(self, strings: pa.Array) -> set[tuple[str, str]]:
        """The (kind, value) pairs one of whose spellings occurs in one of ``strings`` (a string array)."""
        if not self._meaning:
            return set()
        return self.in_text("\0".join(strings.drop_null().to_pylist()))  # no spelling holds a NUL: none spans two
