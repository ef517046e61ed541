"""YAML loading that remembers where every value came from (1-based lines).

Paths are tuples of mapping keys and sequence indexes, e.g. ``("sites", 1, "name")``;
:func:`format_path` writes them as ``sites[1].name``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import SpecProblem

Path = tuple[Any, ...]


def format_path(path: Path) -> str:
    """``("sites", 1, "name")`` → ``sites[1].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class LoadedYaml:
    """Plain Python data plus the line of each path and problems found while loading."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[SpecProblem] = field(default_factory=list)

    def line(self, path: Path) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document; syntax errors, characters YAML does not allow (control
    characters) and duplicate keys become problems."""
    try:
        loader = yaml.SafeLoader(text)     # the reader checks every character here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        return LoadedYaml(data=None, problems=[SpecProblem(
            "", line, f"character U+{exc.character:04X} is not allowed in YAML (control "
                      f"characters other than tab and newline are not); remove it")])
    try:
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml(data=None)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return LoadedYaml(data=None, problems=[SpecProblem("", line, f"YAML syntax error: {msg}")])
    except yaml.YAMLError as exc:
        return LoadedYaml(data=None, problems=[SpecProblem("", None, f"YAML error: {exc}")])
    finally:
        loader.dispose()
    out = LoadedYaml(data=data)
    _walk(node, (), out)
    return out


def _walk(node: yaml.Node, path: Path, out: LoadedYaml) -> None:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                out.problems.append(SpecProblem(
                    format_path(path + (key,)), line,
                    f"duplicate key '{key}' (first at line {seen[key]}); remove one"))
                continue
            seen[key] = line
            out.lines[path + (key,)] = line
            _walk(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), out)
