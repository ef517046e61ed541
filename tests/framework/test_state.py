"""Framework state stores: file (here) and ZooKeeper (with the real server)."""
from __future__ import annotations

import json
import logging

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


CONTROLS = {"paused": True, "node_drains": ["p.executor.dc.1"], "sites": {
    "campus": {"min": 0, "max": 3, "desired": None, "drained": True}}}


def test_the_operators_controls_round_trip_with_the_state(tmp_path):
    store = FileStore(tmp_path / "state.json")
    store.save(FrameworkState("fw-1", {"t1": "a1"}, CONTROLS))
    assert store.load() == FrameworkState("fw-1", {"t1": "a1"}, CONTROLS)
    assert json.loads((tmp_path / "state.json").read_text())["controls"] == CONTROLS
    # without controls the document is the one written before they were kept
    assert FrameworkState("fw-1", {"t1": None}).to_json() == \
        b'{"framework_id": "fw-1", "tasks": {"t1": null}}'


def test_an_old_document_without_controls_still_loads():
    old = b'{"framework_id": "fw-1", "tasks": {"t1": "a1"}}'
    assert FrameworkState.from_json(old, "old") == FrameworkState("fw-1", {"t1": "a1"}, None)


@pytest.mark.parametrize("controls", ['"paused"', "[1, 2]", "3", "true"])
def test_malformed_controls_are_none_and_said(caplog, controls):
    data = f'{{"framework_id": "fw-1", "tasks": {{}}, "controls": {controls}}}'.encode()
    with caplog.at_level(logging.WARNING, logger="framework.state"):
        assert FrameworkState.from_json(data, "s.json") == FrameworkState("fw-1", {}, None)
    assert [r.getMessage() for r in caplog.records] == [
        f"framework state in s.json: its 'controls' is not an object ({controls}): the "
        f"operators' controls start from the spec"]
    assert FrameworkState.from_json(b'{"controls": null}', "s") == FrameworkState()
