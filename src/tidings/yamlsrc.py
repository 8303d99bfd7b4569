"""YAML loading that remembers where each value came from, so errors can name the line, and
the ${ENV} expansion of loaded files (the configuration, notification specs)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tidings.errors import InputError, Problem

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """('workflows', 0, 'name') -> 'workflows[0].name'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _lines(node: yaml.Node, path: Path, into: dict[Path, int]) -> None:
    into[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            into[(*path, name)] = key.start_mark.line + 1
            _lines(value, (*path, name), into)
            into[(*path, name)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), into)


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML safely; return the data and a map from path to line number.

    Raises InputError naming the line of a syntax error.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark:
            # e.g. "while parsing a flow sequence started at line 2": where the fix usually is.
            what = f"{exc.context} started at line {exc.context_mark.line + 1}: {what}"
        raise InputError(f"{source}: YAML syntax error", [Problem("", what, line)]) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: YAML syntax error", [Problem("", str(exc))]) from None
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of the deepest known prefix of path."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found:
            return found
    return None


_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(data: Any, path: Path, problems: list[Problem], environ: dict[str, str]) -> Any:
    """Replace ${NAME} in every string with the environment variable; $$ is a literal $."""
    if isinstance(data, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if name not in environ:
                problems.append(
                    Problem(
                        format_path(path),
                        f"environment variable {name} is not set; export it or write the value",
                    )
                )
                return ""
            return environ[name]

        return _ENV_REF.sub(replace, data)
    if isinstance(data, dict):
        return {k: expand_env(v, (*path, str(k)), problems, environ) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, (*path, i), problems, environ) for i, v in enumerate(data)]
    return data
