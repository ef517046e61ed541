"""Specs for the Calico tests: examples/two-sites.yaml, changed by a function."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from framework.spec import ClusterSpec, load_spec
from tests.conftest import EXAMPLES

Mutate = Callable[[dict[str, Any]], None]


def spec_file(tmp_path: Path, mutate: Mutate | None = None, name: str = "spec.yaml") -> Path:
    data = yaml.safe_load((EXAMPLES / "two-sites.yaml").read_text())
    if mutate:
        mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_spec(tmp_path: Path, mutate: Mutate | None = None, name: str = "spec.yaml") -> ClusterSpec:
    return load_spec(spec_file(tmp_path, mutate, name))


def pool(name: str, dc_cidr: str = "10.1.0.0/16", campus_cidr: str = "10.2.0.0/16",
         client_cidrs: list[str] | None = None, ssh: bool = False) -> Mutate:
    """Pool ``name`` with the two sites at the CIDRs given (and clients / ssh)."""
    def mutate(d: dict[str, Any]) -> None:
        d["pool"]["name"] = name
        d["sites"][0]["calico"]["cidr"] = dc_cidr
        d["sites"][1]["calico"]["cidr"] = campus_cidr
        if client_cidrs is not None:
            d["network"] = {"client_cidrs": client_cidrs, "submitter_ssh": ssh}
    return mutate
