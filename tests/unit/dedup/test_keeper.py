"""The keeper: the copy with the most information, and the criterion that decided."""

from __future__ import annotations

import datetime as dt

from pipeline.dedup.keeper import Copy, choose_keeper

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def copy(uri: str, **changes) -> Copy:
    base = {"pixels": 1000 * 800, "content": 1.0, "colour": True, "exif_fields": 12, "captured": T0}
    return Copy(uri=uri, **{**base, "jpeg_quality": 92, "size": 400_000, **changes})


def keeper(*copies: Copy) -> tuple[str, str]:
    chosen, decided = choose_keeper(list(copies))
    return copies[chosen].uri, decided


def test_each_criterion_in_its_order():
    assert keeper(copy("half", pixels=500 * 400, jpeg_quality=95), copy("orig")) == ("orig", "pixels")
    assert keeper(copy("framed", content=0.49, jpeg_quality=95), copy("orig")) == ("orig", "content")
    assert keeper(copy("grey", colour=False), copy("orig")) == ("orig", "colour")
    assert keeper(copy("messenger", exif_fields=0, size=90_000), copy("orig")) == ("orig", "exif_fields")
    later = T0 + dt.timedelta(days=3)
    assert keeper(copy("edit", captured=later, jpeg_quality=98), copy("orig")) == ("orig", "captured")
    assert keeper(copy("q50", jpeg_quality=50), copy("orig")) == ("orig", "jpeg_quality")
    assert keeper(copy("png", jpeg_quality=100, size=900_000), copy("orig", jpeg_quality=100)) == ("orig", "size")
    assert keeper(copy("b"), copy("a")) == ("a", "uri")


def test_a_larger_file_does_not_win_by_size():
    resaved = copy("resaved_q95", captured=T0 + dt.timedelta(hours=1), jpeg_quality=95, size=2_000_000)
    assert keeper(resaved, copy("orig", jpeg_quality=75))[0] == "orig"
