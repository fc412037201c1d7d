"""Fixtures of the io tests: a library location on a folder and on S3."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(params=["folder", "s3"])
def dst(request, tmp_path) -> str:
    """A library location for the test: a folder, then a prefix in a new bucket on moto's S3."""
    if request.param == "folder":
        return str(tmp_path / "library")
    import s3fs

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"library-{time.time_ns()}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    return f"s3://{bucket}/library"
