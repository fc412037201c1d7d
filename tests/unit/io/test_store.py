"""Tests for the image store on local folders: listing, reading, output checks, delta options, locations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline import schema as S
from pipeline.config import InputConfig, StorageConfig
from pipeline.errors import ConfigError
from pipeline.ingest.read import read_photos
from pipeline.io.store import (
    canonical_location,
    delta_storage_options,
    ensure_writable,
    list_photos,
    remove_empty_folders,
    write_text,
)
from tests.photos import TREE_OTHERS, TREE_PHOTOS

LOCAL = StorageConfig()


EXTENSIONS = InputConfig().extensions


def test_list_photos_finds_photos_recursively_and_case_insensitively(photo_folder: Path) -> None:
    listing = list_photos(str(photo_folder), LOCAL, EXTENSIONS)

    expected = sorted(str(photo_folder / relative) for relative in TREE_PHOTOS)
    assert listing.column(S.URI).to_pylist() == expected
    assert listing.schema == S.LISTING_SCHEMA


def test_list_photos_ignores_other_files_and_folders_named_like_photos(photo_folder: Path) -> None:
    uris = list_photos(str(photo_folder), LOCAL, EXTENSIONS).column(S.URI).to_pylist()

    assert not any(uri.endswith((".txt", ".md")) for uri in uris)
    assert not any("d.jpg" in uri for uri in uris)


def test_list_photos_reports_sizes_and_utc_mtimes(photo_folder: Path) -> None:
    rows = {row[S.URI]: row for row in list_photos(str(photo_folder), LOCAL, EXTENSIONS).to_pylist()}

    for index, (relative, data) in enumerate({**TREE_PHOTOS, **TREE_OTHERS}.items()):
        if relative not in TREE_PHOTOS:
            continue
        row = rows[str(photo_folder / relative)]
        assert row[S.SIZE] == len(data)
        mtime = row[S.MTIME]
        assert mtime.tzinfo is not None and mtime.utcoffset() == dt.timedelta(0)
        assert mtime == dt.datetime.fromtimestamp(1_700_000_000 + index * 60, tz=dt.timezone.utc)
        assert row[S.ETAG] is None


def test_list_photos_honours_the_configured_extensions(photo_folder: Path) -> None:
    uris = list_photos(str(photo_folder), LOCAL, (".PNG",)).column(S.URI).to_pylist()

    assert uris == [str(photo_folder / "x/y/z.png")]


def test_list_photos_of_an_empty_folder_is_empty(tmp_path: Path) -> None:
    listing = list_photos(str(tmp_path), LOCAL, EXTENSIONS)

    assert listing.num_rows == 0
    assert listing.schema == S.LISTING_SCHEMA


def test_list_photos_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"

    with pytest.raises(ConfigError) as excinfo:
        list_photos(str(missing), LOCAL, EXTENSIONS)

    assert str(missing) in str(excinfo.value)


def test_list_photos_of_a_file_is_a_config_error(photo_folder: Path) -> None:
    a_file = photo_folder / "A.JPG"

    with pytest.raises(ConfigError, match="A.JPG"):
        list_photos(str(a_file), LOCAL, EXTENSIONS)


def test_ensure_writable_creates_a_missing_folder_and_leaves_it_clean(tmp_path: Path) -> None:
    dst = tmp_path / "out" / "run"

    ensure_writable(str(dst), LOCAL)

    assert dst.is_dir()
    assert list(dst.iterdir()) == []  # the write probe is removed


def test_ensure_writable_below_a_regular_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("I am not a folder")
    dst = blocker / "out"

    with pytest.raises(ConfigError) as excinfo:
        ensure_writable(str(dst), LOCAL)

    assert str(dst) in str(excinfo.value)
    assert blocker.read_text() == "I am not a folder"


def test_write_text_creates_folders_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "meta" / "deep" / "config.yaml"
    text = "ray:\n  model_actors: 3\nnote: ünïcödé\n"

    write_text(str(path), text, LOCAL)

    assert path.read_text() == text
    write_text(str(path), "replaced", LOCAL)
    assert path.read_text() == "replaced"


def test_delta_storage_options_are_none_for_local_paths(tmp_path: Path) -> None:
    assert delta_storage_options(str(tmp_path / "images"), StorageConfig(endpoint_url="http://x:9000")) is None


def test_delta_storage_options_for_an_http_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    storage = StorageConfig(endpoint_url="http://127.0.0.1:9000", region="eu-west-1")

    options = delta_storage_options("s3://bucket/out/images", storage)

    assert options is not None
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_REGION"] == "eu-west-1"
    assert options["AWS_ACCESS_KEY_ID"] == "key-id"
    assert options["AWS_SECRET_ACCESS_KEY"] == "secret"
    assert "AWS_SESSION_TOKEN" not in options


def test_delta_storage_options_for_https_and_aws_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # AWS itself: no endpoint or region in the config nor in the environment (an S3 test may have set them)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")

    https = delta_storage_options("s3://bucket/out", StorageConfig(endpoint_url="https://s3.example.com"))
    aws = delta_storage_options("s3://bucket/out", StorageConfig())

    assert https is not None and aws is not None
    assert https["AWS_ENDPOINT_URL"] == "https://s3.example.com"
    assert "AWS_ALLOW_HTTP" not in https
    assert "AWS_ENDPOINT_URL" not in aws and "AWS_REGION" not in aws
    assert "AWS_ACCESS_KEY_ID" not in aws
    assert aws["AWS_SESSION_TOKEN"] == "token"


def test_symlinked_photos_are_listed_with_their_target_size_and_broken_links_fail_on_read(tmp_path):
    target = tmp_path / "real.jpg"
    target.write_bytes(b"x" * 1234)
    album = tmp_path / "album"
    album.mkdir()
    (album / "linked.jpg").symlink_to(target)
    (album / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    listing = list_photos(str(album), StorageConfig(), (".jpg",))
    assert listing["uri"].to_pylist() == [str(album / "broken.jpg"), str(album / "linked.jpg")]
    assert listing["size"].to_pylist() == [0, 1234]
    read = read_photos(listing, StorageConfig())
    assert read["error"][0].as_py().startswith("read_failed:")
    assert read["error"][1].as_py() is None


def test_remove_empty_folders_climbs_to_the_top_and_stops_at_a_folder_that_holds_anything(tmp_path: Path) -> None:
    top = tmp_path / "quarantine" / "run"
    (top / "a" / "b" / "c").mkdir(parents=True)
    (top / "a" / "keep.txt").write_text("mine")
    (tmp_path / "quarantine" / "empty").mkdir()

    remove_empty_folders(str(top / "a" / "b" / "c" / "photo.jpg"), str(top))

    assert not (top / "a" / "b").exists() and (top / "a" / "keep.txt").read_text() == "mine"
    (top / "a" / "keep.txt").unlink()
    remove_empty_folders(str(top / "a" / "photo.jpg"), str(top))
    assert not top.exists() and (tmp_path / "quarantine" / "empty").is_dir()  # nothing above the top
    remove_empty_folders(str(tmp_path / "elsewhere" / "photo.jpg"), str(top))  # not below the top: nothing
    remove_empty_folders("s3://bucket/run/a/photo.jpg", "s3://bucket/run")  # no folders on S3


@pytest.mark.parametrize(
    "spellings",
    [
        ["s3://bucket/prefix", "s3://bucket/prefix/", "s3a://bucket/prefix//"],
        ["s3://bucket", "s3://bucket/"],
    ],
)
def test_canonical_location_of_s3_spellings(spellings: list[str]) -> None:
    assert {canonical_location(uri) for uri in spellings} == {spellings[0]}


def test_canonical_location_of_local_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real" / "tables").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path / "real")
    spellings = [
        f"{tmp_path}/real/tables",
        f"{tmp_path}/real/tables//",
        f"{tmp_path}/real/./x/../tables",
        "tables",
        "./tables/",
        "~/real/tables",
        f"{tmp_path}/link/tables",
    ]

    assert {canonical_location(uri) for uri in spellings} == {str((tmp_path / "real" / "tables").resolve())}
    assert canonical_location(f"{tmp_path}/link/not-yet") == str((tmp_path / "real").resolve() / "not-yet")
