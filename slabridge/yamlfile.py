"""YAML files (YAML 1.2, read by ruamel.yaml) whose validation errors say file, line and key path.

``load(path)`` returns the data and a map from key paths to line numbers;
``problems(...)`` turns a pydantic ValidationError into lines like
``contracts/caret.yaml:14: calendars.business.timezone: unknown IANA time zone``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML, MappingNode, SequenceNode
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Lines = dict[tuple, int]


class _Constructor(SafeConstructor):
    """YAML 1.2, but dates stay strings: pydantic parses them and names the key of a bad one (2026-13-01)."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def _parser() -> YAML:
    parser = YAML(typ="safe", pure=True)  # YAML 1.2: only true/false are booleans, so NO (Norway) stays a string
    parser.Constructor = _Constructor
    return parser


class FileProblem(Exception):
    """A file that cannot be read or parsed at all; the message says where."""


def load(path: str | Path) -> tuple[Any, Lines]:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileProblem(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot read: {exc}") from None
    lines: Lines = {}
    try:
        node = _parser().compose(text)
        if node is not None:
            _walk(node, (), lines, path)  # before constructing: a duplicate key is named with both lines
        data = _parser().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise FileProblem(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except (YAMLError, ValueError) as exc:  # a value YAML itself could not build
        raise FileProblem(f"{path}: not valid YAML: {exc}") from None
    return data, lines


def _walk(node, path: tuple, lines: Lines, file: Path) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            child = path + (key.value,)
            line = key.start_mark.line + 1
            if key.value in seen:  # YAML would silently keep the last one
                raise FileProblem(f"{file}:{line}: {key_path(child)}: duplicate key (first on line {seen[key.value]})")
            seen[key.value] = line
            lines[child] = line
            _walk(value, child, lines, file)
            lines[child] = line
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, file)


def line_of(lines: Lines, loc: tuple) -> int | None:
    """The line of the deepest known key on ``loc``."""
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def key_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def problems(path: str | Path, error: ValidationError, lines: Lines, prefix: tuple = ()) -> list[str]:
    """One ``file:line: key.path: message`` line per validation error."""
    out = []
    for err in error.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and (
            p.startswith("function-") or p == "[key]")))
        line = line_of(lines, loc)
        message = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}{f':{line}' if line else ''}: {key_path(loc)}: {message}")
    return out
