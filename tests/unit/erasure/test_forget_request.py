"""What a forget accepts, what its runs row keeps of the request (never a uri or a name), and its exit code."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.erasure.forget import ForgetResult, forget
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    "request_",
    [{}, {"library": "a", "uris": ["x"]}, {"uris": ["x"], "name": "Ann"}, {"name": "Ann"}, {"uris": []}],
)
def test_a_malformed_request_is_refused_before_anything_is_opened(request_: dict, tmp_path):
    with pytest.raises(ConfigError):
        forget(str(tmp_path / "no-store"), **request_)


def test_the_request_recorded_holds_counts_and_a_hash_not_the_data():
    from pipeline.erasure.forget import _request

    assert _request(None, ["s3://b/anna/1.jpg", "s3://b/anna/2.jpg"], None) == {
        "kind": "uris",
        "library": None,
        "uris": 2,
    }
    named = _request("anna", None, " Ben ")
    assert named["name_sha256"] == hashlib.sha256(b"Ben").hexdigest() and "Ben" not in str(named)


def test_a_step_failed_for_some_scopes_fails_the_forget():
    def result(steps: list) -> ForgetResult:
        return ForgetResult("run", {}, 0, 0, 0, 0, 0, steps, 0.0)

    assert result([{"status": "ok", "scopes_failed": 0}]).exit_code == 0
    assert result([{"status": "ok", "scopes_failed": 1}]).exit_code == 1
    assert result([{"status": "failed"}]).exit_code == 1
