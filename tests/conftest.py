"""Shared test set-up: paths, and the example specs."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


# Real services (ZooKeeper, etcd, Docker engine, tiny image): session fixtures any test
# can request by name; see tests/services.py.
from tests.services import (  # noqa: E402,F401
    docker_engine,
    docker_service,
    etcd,
    role_images,
    tiny_image,
    zookeeper,
)
