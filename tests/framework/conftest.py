"""Fixtures the framework's tests share."""
from __future__ import annotations

from typing import Iterator

import pytest

from framework.sim.consul import EmulatedConsul


@pytest.fixture
def consul() -> Iterator[EmulatedConsul]:
    """A strict Consul agent emulator on loopback, stopped after the test."""
    agent = EmulatedConsul().start()
    try:
        yield agent
    finally:
        agent.stop()
