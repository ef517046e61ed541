"""The spec's ``backend.marathon`` block: group, secrets prefix (default and validation)."""
from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import SpecError
from framework.spec import parse_spec
from tests.framework.test_spec import GOOD

MARATHON = GOOD.replace("  type: sim\n", "  type: marathon\n  marathon:\n"
                                          "    url: http://127.0.0.1:8080\n")


def test_marathon_defaults_group_and_secrets_prefix_from_pool_name():
    m = parse_spec(MARATHON, "t.yaml", Path("/base")).backend.marathon
    assert (m.url, m.group, m.secrets_prefix, m.credentials_file) == \
        ("http://127.0.0.1:8080", "/htcondor", "htcondor/p1", None)


def test_marathon_secrets_prefix_given():
    text = MARATHON + "    secrets_prefix: vault/htc/p1\n"
    assert parse_spec(text, "t.yaml", Path("/base")).backend.marathon.secrets_prefix == \
        "vault/htc/p1"


@pytest.mark.parametrize("bad", ["/htcondor/p1", "htcondor/p1/", "a//b", "'has space'"])
def test_marathon_bad_secrets_prefix_is_named_with_its_path(bad):
    text = MARATHON + f"    secrets_prefix: {bad}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "t.yaml", Path("/base"))
    [problem] = info.value.problems
    assert problem.path == "backend.marathon.secrets_prefix"
    assert "secret store path" in problem.message and problem.line == 25
