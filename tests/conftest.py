"""Shared fixtures: the shared data sets, a local Ray, a real S3 endpoint (moto server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared"))
LFW = SHARED / "datasets" / "lfw"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    if not (LFW / "images").is_dir():
        pytest.skip(f"LFW not found at {LFW} (set FACEPIPE_SHARED to the folder holding datasets/lfw)")
    return LFW


@pytest.fixture(scope="session")
def lfw_images(lfw_dir: Path) -> Path:
    return lfw_dir / "images"


@pytest.fixture(scope="module")
def local_ray():
    """A local 2-CPU Ray for in-process jobs (shut down after the module)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield ray
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint: moto's server on 127.0.0.1, with credentials in the environment."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.terminate()
    server.wait(timeout=10)
