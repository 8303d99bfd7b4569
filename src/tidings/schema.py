"""Plain dataclasses validated from parsed YAML/JSON, without pydantic.

`tidings notify` validates one notify_ctl per run, and importing pydantic and building its
models was nearly half of that whole process. So a notify_ctl's models are dataclasses (`Model`),
checked here against their own type hints; the configuration's pydantic models embed them
through `__get_pydantic_core_schema__`, which calls the same check. One definition, one
validator, whichever path loads it.

Unknown keys are errors: a misspelt key would otherwise silently disable a notification.
A list given as null is an empty list: Zadig's JSON writes an empty slice without `omitempty`
(at_mobiles, target_users, dynamic_recipients, ...) as null.
Field types understood: str, bool, int, Any, `X | None`, list[X], Literal[...] and nested
Models. `before(fn)` in a field's metadata converts the raw value first (like pydantic's
`mode="before"` validators); a Model's `_prepare(data)` does so for the whole mapping, and its
`_problems()` lists what is wrong with the values beyond their types, as (path, message).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin

Path = tuple[str | int, ...]
M = TypeVar("M", bound="Model")

UNKNOWN = "unknown field"  # how every message about a key no model has starts
UNKNOWN_FIELD = f"{UNKNOWN}; check its spelling against docs/configuration.md"
_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def unknown_field(key: object, known: typing.Iterable[str]) -> str:
    """The message for a key no model has, naming the closest known key when one is close."""
    close = closest(str(key), known)
    return f"{UNKNOWN}; did you mean {close}?" if close else UNKNOWN_FIELD


def closest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice a misspelt word most likely meant, if any is close."""
    import difflib  # only on the way to an error message

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


class Invalid(ValueError):
    """What is wrong with one value: (path inside it, message) for each problem."""

    def __init__(self, problems: list[tuple[Path, str]]) -> None:
        self.problems = problems
        first = problems[0] if problems else ((), "invalid")
        where = ".".join(str(part) for part in first[0])
        super().__init__(f"{where}: {first[1]}" if where else first[1])


def before(convert: Callable[[Any], Any]) -> dict[str, Any]:
    """Field metadata: `convert` is applied to the raw value before it is checked."""
    return {"before": convert}


def id_list(value: Any) -> Any:
    """Zadig's UI takes several ids separated by ';': accept that string as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) else v for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]  # one mobile, written as a YAML number
    return value


# Field metadata: a list of ids that may also be given as one "a;b" string.
IDS = before(id_list)


Check = Callable[[Any, Path, list[tuple[Path, str]]], Any]


# Each Model's fields as (name, check, required), built on first use.
_FIELDS: dict[type, list[tuple[str, Check, bool]]] = {}


class Model:
    """Base of the dataclasses validated here (subclasses are `@dataclass`es)."""

    @classmethod
    def parse(cls: type[M], data: Any) -> M:
        """An instance from parsed data, or Invalid listing every problem at once."""
        problems: list[tuple[Path, str]] = []
        value = _model_check(cls)(data, (), problems)
        if problems:
            raise Invalid(problems)
        return value

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        # Called only when a pydantic model embeds this one: pydantic is imported by then.
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(as_dict)
        )


def as_dict(value: Any) -> Any:
    """A Model as plain data (what pydantic's model_dump gives for the models embedding it)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _model_check(cls: type) -> Check:
    def check(data: Any, at: Path, problems: list[tuple[Path, str]]) -> Any:
        if isinstance(data, cls):
            return data
        prepare = getattr(cls, "_prepare", None)
        if prepare is not None:
            data = prepare(data)
        if not isinstance(data, dict):
            problems.append((at, "must be a mapping"))
            return None
        start = len(problems)
        fields = _fields(cls)
        known = {name for name, _, _ in fields}
        for key in data:
            if key not in known:
                problems.append(((*at, key), unknown_field(key, known)))
        values: dict[str, Any] = {}
        for name, field_check, required in fields:
            if name in data:
                values[name] = field_check(data[name], (*at, name), problems)
            elif required:
                problems.append(((*at, name), "field required"))
        if len(problems) != start:
            return None
        value = cls(**values)
        # What field types cannot say (a secret's format): the model's own `_problems()`.
        own = getattr(value, "_problems", None)
        if own is not None:
            problems.extend(((*at, *path), message) for path, message in own())
        return value if len(problems) == start else None

    return check


def _fields(cls: type) -> list[tuple[str, Check, bool]]:
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = []
        for field in dataclasses.fields(cls):
            check = _check_of(hints[field.name])
            convert = field.metadata.get("before")
            if convert is not None:
                check = _converted(convert, check)
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            found.append((field.name, check, required))
        _FIELDS[cls] = found
    return found


def _converted(convert: Callable[[Any], Any], check: Check) -> Check:
    return lambda value, at, problems: check(convert(value), at, problems)


def _check_of(hint: Any) -> Check:
    origin = get_origin(hint)
    if hint is Any:
        return lambda value, _at, _problems: value
    if hint is str:
        return _scalar(str, "must be a string")
    if hint is int:
        return _scalar(int, "must be an integer")
    if hint is bool:
        return _bool
    if isinstance(hint, type) and issubclass(hint, Model):
        return _model_check(hint)
    if origin is Literal:
        return _literal(get_args(hint))
    if origin is list:
        return _list(_check_of(get_args(hint)[0]))
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return _optional(_check_of(args[0]))
    raise TypeError(f"schema: unsupported field type {hint!r}")


def _scalar(kind: type, message: str) -> Check:
    def check(value: Any, at: Path, problems: list[tuple[Path, str]]) -> Any:
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        problems.append((at, message))
        return None

    return check


def _bool(value: Any, at: Path, problems: list[tuple[Path, str]]) -> Any:
    # The spellings pydantic accepted: an ${ENV} value arrives as a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    problems.append((at, "must be true or false"))
    return None


def _literal(choices: tuple[Any, ...]) -> Check:
    expected = ", ".join(repr(choice) for choice in choices)

    def check(value: Any, at: Path, problems: list[tuple[Path, str]]) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        problems.append((at, f"must be one of {expected}; got {value!r}"))
        return None

    return check


def _list(item: Check) -> Check:
    def check(value: Any, at: Path, problems: list[tuple[Path, str]]) -> Any:
        if value is None:  # Go's nil slice, as Zadig writes it
            return []
        if not isinstance(value, list | tuple):
            problems.append((at, "must be a list"))
            return None
        return [item(entry, (*at, index), problems) for index, entry in enumerate(value)]

    return check


def _optional(inner: Check) -> Check:
    return lambda value, at, problems: None if value is None else inner(value, at, problems)
