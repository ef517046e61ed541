"""Static checks of the role Dockerfiles and of the in-container package's portability."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROLE_IMAGES = {"master": "htcondor/cm", "submitter": "htcondor/submit", "executor": "htcondor/execute"}
ENTRYPOINT = ["python3", "-m", "htcmesos_role.entrypoint"]


def parse_dockerfile(path: Path) -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, continuations joined."""
    instructions: List[Tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "dangling line continuation in %s" % path
    return instructions


def env_pairs(args: str) -> Dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(args))


@pytest.fixture(params=sorted(ROLE_IMAGES))
def role(request) -> str:
    return request.param


def test_dockerfile_base_is_a_build_argument_defaulting_to_the_official_image(role, executors_dir):
    """The official image where a registry is reachable; `htcmesos images build` passes
    the local HTCondor base as BASE where none is (framework/condor/images.py)."""
    from framework.condor.images import OFFICIAL, OFFICIAL_TAG
    from framework.model import Role
    ins = parse_dockerfile(executors_dir / role / "Dockerfile")
    assert ins[0] == ("ARG", "BASE=%s:%s" % (ROLE_IMAGES[role], OFFICIAL_TAG))
    assert OFFICIAL[Role(role)] == ROLE_IMAGES[role]
    froms = [args for kw, args in ins if kw == "FROM"]
    assert froms == ["${BASE}"]


def test_copy_sources_exist_in_build_context(role, executors_dir):
    ins = parse_dockerfile(executors_dir / role / "Dockerfile")
    copies = [args.split() for kw, args in ins if kw in ("COPY", "ADD")]
    assert copies, "no COPY"
    for parts in copies:
        sources = [p for p in parts[:-1] if not p.startswith("--")]
        for src in sources:
            assert (executors_dir / src).exists(), "COPY source %s missing from executors/" % src
    assert ["htcmesos_role", "/opt/htcmesos/htcmesos_role"] in copies


def test_env_expose_entrypoint_and_healthcheck(role, executors_dir):
    ins = parse_dockerfile(executors_dir / role / "Dockerfile")
    env: Dict[str, str] = {}
    for kw, args in ins:
        if kw == "ENV":
            env.update(env_pairs(args))
    assert env["PYTHONPATH"] == "/opt/htcmesos" and env["HTCMESOS_ROLE"] == role
    assert [args.split() for kw, args in ins if kw == "EXPOSE"] == [["9618", "5000"]]
    entrypoints = [json.loads(args) for kw, args in ins if kw == "ENTRYPOINT"]
    assert entrypoints == [ENTRYPOINT]
    assert not [kw for kw, _ in ins if kw == "CMD"], "a CMD would become the role argument"
    (health,) = [args for kw, args in ins if kw == "HEALTHCHECK"]
    options, _, command = health.partition("CMD")
    assert "--timeout=" in options and "--interval=" in options
    argv = json.loads(command.strip())
    assert argv[:2] == ["python3", "-m"]
    module = argv[2]
    module_file = executors_dir / (module.replace(".", "/") + ".py")
    assert module_file.exists()
    source = module_file.read_text()
    assert "urllib.request" in source and "5000" in source and "/health" in source
    assert (executors_dir / "htcmesos_role" / "entrypoint.py").exists()


def test_dockerignore_keeps_bytecode_out(executors_dir):
    assert "__pycache__" in (executors_dir / ".dockerignore").read_text()


def package_modules(executors_dir: Path) -> List[Path]:
    return sorted((executors_dir / "htcmesos_role").glob("*.py"))


def test_package_parses_as_python_3_9(executors_dir):
    for module in package_modules(executors_dir):
        source = module.read_text()
        ast.parse(source, filename=str(module), feature_version=(3, 9))
        assert "from __future__ import annotations" in source, module.name
        assert not re.search(r"^\s*match\s+.+:\s*$", source, re.M), module.name


def test_package_imports_nothing_from_framework(executors_dir):
    for module in package_modules(executors_dir):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            assert not [n for n in names if n == "framework" or n.startswith("framework.")], module.name


def test_no_pep604_unions_evaluated_at_runtime(executors_dir):
    """``X | None`` is only safe inside annotations (postponed); 3.9 cannot evaluate it."""
    for module in package_modules(executors_dir):
        tree = ast.parse(module.read_text())
        annotation_nodes = set()
        for node in ast.walk(tree):
            for ann in _annotations(node):
                annotation_nodes.update(id(n) for n in ast.walk(ann))
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in annotation_nodes:
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & {"None", "str", "int", "float", "bytes", "list", "dict", "Path"}, module.name


def _annotations(node: ast.AST) -> List[ast.AST]:
    out: List[ast.AST] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        for arg in args.args + args.kwonlyargs + args.posonlyargs + [args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                out.append(arg.annotation)
        if node.returns is not None:
            out.append(node.returns)
    elif isinstance(node, ast.AnnAssign):
        out.append(node.annotation)
    return out
