"""Loading a configuration file: YAML -> models, ${ENV} expansion, every problem with its YAML
path and line, and the checks pydantic cannot express (config.checks)."""

from __future__ import annotations

import os
import re
from pathlib import Path as FilePath

from pydantic import ValidationError

from tidings.config.checks import pydantic_problems, reference_problems
from tidings.config.models import Config
from tidings.errors import ConfigError, InputError, Problem
from tidings.schema import UNKNOWN, Path

CONFIG_ENV = "TIDINGS_CONFIG"
DEFAULT_CONFIG = "tidings.yaml"


def resolve_path(path: str | None) -> str:
    """-c FILE, else $TIDINGS_CONFIG, else ./tidings.yaml."""
    return path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate a configuration file. Raises ConfigError listing every problem."""
    source = resolve_path(path)
    try:
        text = FilePath(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path else f" (no -c given and ${CONFIG_ENV} is not set)"
        raise ConfigError(f"configuration file {source} not found{hint}; pass -c FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {source}: {exc}") from None
    return loads(text, source, environ)


def loads(text: str, source: str = "<config>", environ: dict[str, str] | None = None) -> Config:
    from tidings.yamlsrc import expand_env, format_path, line_of, load_yaml

    try:
        data, lines = load_yaml(text, source)
    except InputError as exc:
        raise ConfigError(exc.message, exc.problems) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid configuration", [Problem("", "must be a mapping", 1)])
    problems: list[Problem] = []
    data = expand_env(data, (), problems, dict(os.environ if environ is None else environ))
    for problem in problems:
        object.__setattr__(problem, "line", line_of(lines, _parse_path(problem.path)))
    warnings: list[tuple[Path, str]] = []

    # A value whose variable is unset is reported once, not again as an empty or bad value;
    # but a misspelt key is the mistake to fix first, whatever its value.
    unset = {problem.path: problem for problem in problems}

    def follows_unset(problem: Problem) -> bool:
        # An object's own check (e.g. "give exactly one of token or token_sha256") fails
        # because one of its values is unset: the unset variable is the one thing to fix.
        if not problem.path or problem.message.startswith(UNKNOWN):
            return False
        return any(path.startswith((f"{problem.path}.", f"{problem.path}[")) for path in unset)

    def add(path: Path, message: str) -> None:
        problem = Problem(format_path(path), message, line_of(lines, path))
        if problem.path in unset and message.startswith(UNKNOWN):
            problems.remove(unset.pop(problem.path))
        if problem.path not in unset and problem not in problems and not follows_unset(problem):
            problems.append(problem)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            for path, message in pydantic_problems(error, Config):
                add(path, message)
        config = None
    if config is not None:
        reference_errors, reference_warnings = reference_problems(config)
        for path, message in reference_errors:
            add(path, message)
        warnings.extend(reference_warnings)
    if problems or config is None:
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigError(f"{source}: invalid configuration", problems)
    config._source = source
    config._warnings = [Problem(format_path(p), m, line_of(lines, p)) for p, m in warnings]
    return config


def _parse_path(text: str) -> Path:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)
