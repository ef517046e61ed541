"""Framework state stores: file (here) and ZooKeeper (with the real server)."""
from __future__ import annotations

import pytest

from framework.errors import BackendError
from framework.state import FileStore, FrameworkState, open_store


def test_file_store_round_trip_and_atomic_replace(tmp_path):
    store = open_store(str(tmp_path / "d" / "state.json"))
    assert isinstance(store, FileStore) and store.load() == FrameworkState()
    store.save(FrameworkState("fw-1", {"t1": "a1", "t2": None}))
    store.save(FrameworkState("fw-1", {"t2": "a2"}))
    assert store.load() == FrameworkState("fw-1", {"t2": "a2"})
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["state.json"]


@pytest.mark.parametrize("content", [b"{not json", b"[1]", b'{"tasks": 3}', b"\xff\xfe"])
def test_corrupt_state_is_a_clear_error(tmp_path, content):
    (tmp_path / "s.json").write_bytes(content)
    with pytest.raises(BackendError, match="unreadable"):
        FileStore(tmp_path / "s.json").load()
