"""Which library each listed photo belongs to: one named library, the default one, or one per folder of SRC
(on a folder and on S3), and which libraries a run reconciles."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.ingest.libraries import assign_libraries
from pipeline.io import store
from tests.tables import images_table

EXTENSIONS = (".jpg",)


@pytest.fixture(params=["folder", "s3"])
def src(request, tmp_path: Path) -> str:
    """SRC holding anna/1.jpg, anna/trip/2.jpg and ben/1.jpg."""
    files = ["anna/1.jpg", "anna/trip/2.jpg", "ben/1.jpg"]
    if request.param == "folder":
        for name in files:
            (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "src" / name).write_bytes(b"x")
        return str(tmp_path / "src") + "/"  # as a person types it, with a trailing slash
    import s3fs

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"libraries-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.mkdir(bucket)
    for name in files:
        fs.pipe(f"{bucket}/photos/{name}", b"x")
    return f"s3://{bucket}/photos"


def _committed(uris: list[str], libraries: list[str]) -> pa.Table:
    return pa.concat_tables(
        [images_table([uri], [uri], [0], library=library) for uri, library in zip(uris, libraries)]
        or [images_table([], [], [])]
    )


def test_each_folder_below_src_is_a_library(src: str) -> None:
    listing = store.list_photos(src, StorageConfig(), EXTENSIONS)
    named, libraries = assign_libraries(listing, _committed([], []), src, StorageConfig(), by_folder=True)
    assert named[S.LIBRARY].to_pylist() == ["anna", "anna", "ben"], "a photo deeper down: its top folder's"
    assert libraries == {"anna", "ben"}


def test_a_library_whose_folder_is_gone_is_reconciled_too(src: str) -> None:
    listing = store.list_photos(src, StorageConfig(), EXTENSIONS)
    gone = store.join(src.rstrip("/"), "carl", "1.jpg")
    committed = _committed([gone, "/elsewhere/1.jpg"], ["carl", "dora"])
    _, libraries = assign_libraries(listing, committed, src, StorageConfig(), by_folder=True)
    assert libraries == {"anna", "ben", "carl"}, "carl's photos were below SRC: they leave carl; dora's were not"


def test_one_named_library_for_all_of_src(src: str) -> None:
    listing = store.list_photos(src, StorageConfig(), EXTENSIONS)
    named, libraries = assign_libraries(listing, _committed([], []), src, StorageConfig(), library="family")
    assert named[S.LIBRARY].to_pylist() == ["family"] * 3 and libraries == {"family"}
    named, libraries = assign_libraries(listing, _committed([], []), src, StorageConfig())
    assert named[S.LIBRARY].to_pylist() == [S.DEFAULT_LIBRARY] * 3 and libraries == {S.DEFAULT_LIBRARY}
    empty, libraries = assign_libraries(listing.slice(0, 0), _committed([], []), src, StorageConfig(), library="x")
    assert libraries == {"x"}, "an empty SRC still lists library x in full: its photos leave it"


def test_photos_directly_in_src_have_no_folder_library(tmp_path: Path) -> None:
    (tmp_path / "anna").mkdir()
    (tmp_path / "anna" / "1.jpg").write_bytes(b"x")
    (tmp_path / "loose.jpg").write_bytes(b"x")
    listing = store.list_photos(str(tmp_path), StorageConfig(), EXTENSIONS)
    with pytest.raises(ConfigError, match="1 photos lie directly in"):
        assign_libraries(listing, _committed([], []), str(tmp_path), StorageConfig(), by_folder=True)


@pytest.mark.parametrize("name", ["", "a/b", "tab\there", "x" * 201])
def test_a_library_id_is_checked(tmp_path: Path, name: str) -> None:
    listing = store.list_photos(str(tmp_path), StorageConfig(), EXTENSIONS)
    with pytest.raises(ConfigError, match="is not a library id"):
        assign_libraries(listing, _committed([], []), str(tmp_path), StorageConfig(), library=name)


def test_a_named_library_and_libraries_by_folder_exclude_each_other(tmp_path: Path) -> None:
    listing = store.list_photos(str(tmp_path), StorageConfig(), EXTENSIONS)
    with pytest.raises(ConfigError, match="not both"):
        assign_libraries(listing, _committed([], []), str(tmp_path), StorageConfig(), library="a", by_folder=True)
