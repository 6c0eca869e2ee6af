"""How a config checks its fields: each field's type from its annotation, its bounds from one small table.

Every config of the package (:class:`rssm.dataset.MovingDotConfig`, :class:`rssm.model.RSSMConfig`,
:class:`rssm.losses.LossConfig`, :class:`rssm.train.TrainConfig`, :class:`rssm.evaluate.EvalProtocol`,
:class:`rssm.planning.PlannerConfig`, ...) is a frozen dataclass that reads like nanoGPT's ``GPTConfig``:
its fields first, with a comment each; then a ``bounds`` table for the numbers; then ``__post_init__``::

    @dataclass(frozen=True)
    class WorldConfig:
        grid_size: int = 32  # frames are grid_size x grid_size pixels
        dot_sigma: float = 1.2  # the dot's std, in pixels

        bounds: ClassVar[dict[str, Bounds]] = {"grid_size": between(8, 256), "dot_sigma": positive}

        def __post_init__(self) -> None:
            check_fields(self)  # every field's type, and the bounds above
            if self.dot_sigma > self.grid_size / 8:  # rules across fields come after
                raise field_error(self, "dot_sigma", f"must be at most grid_size/8 = {self.grid_size / 8}")

The type comes from the annotation: ``int`` (not a bool), ``float`` (an int or a float, finite),
``bool``, ``str``, a ``Literal`` (its values are the choices), any class, and each of them ``| None``.
Every error is one line that names the class, the field and the value, and says what the field must be::

    ValueError: MovingDotConfig.grid_size=4: must be an int in [8, 256]

:func:`check_value` is the same check for one value outside a dataclass (a function's argument).
This module imports nothing from the package, so every module may use it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import math
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Bounds", "add_fields", "at_least", "between", "check_fields", "check_value", "field_comments", "field_error",
    "non_negative", "positive",
]


@dataclass(frozen=True)
class Bounds:
    """The interval a number must lie in. ``ends`` says which ends are closed: "[]", "[)", "(]" or "()"."""

    low: float = -math.inf
    high: float = math.inf
    ends: str = "[]"
    why: str = ""  # a reason, added to the error message in parentheses

    def __post_init__(self) -> None:
        if self.ends not in ("[]", "[)", "(]", "()"):
            raise ValueError(f"Bounds.ends={self.ends!r}: must be one of '[]', '[)', '(]', '()'")

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.ends[0] == "(" else value >= self.low
        below = value < self.high if self.ends[1] == ")" else value <= self.high
        return above and below

    def describe(self, noun: str) -> str:
        """What a value must be, in words: "a positive int", "a number in (0, 10)", "an int >= 2"."""
        open_low = self.ends[0] == "("
        if self.low == -math.inf and self.high == math.inf:
            words = noun
        elif self.high == math.inf and (self.low == 0 or (self.low == 1 and noun == "int" and not open_low)):
            words = f"{'positive' if open_low or self.low == 1 else 'non-negative'} {noun}"
        elif self.high == math.inf:
            words = f"{noun} {'>' if open_low else '>='} {self.low:g}"
        elif self.low == -math.inf:
            words = f"{noun} {'<' if self.ends[1] == ')' else '<='} {self.high:g}"
        else:
            words = f"{noun} in {self.ends[0]}{self.low:g}, {self.high:g}{self.ends[1]}"
        if noun == "number" and self.high == math.inf:
            words = f"finite {words}"
        return ("an " if words[0] in "aeiou" else "a ") + words


positive = Bounds(0, ends="(]")  # > 0 (for an int: >= 1)
non_negative = Bounds(0)  # >= 0


def at_least(low: float, why: str = "") -> Bounds:
    """``low <= value``."""
    return Bounds(low, why=why)


def between(low: float, high: float, ends: str = "[]", why: str = "") -> Bounds:
    """``low <= value <= high``, each end open where ``ends`` says so: ``between(0, 1, "[)")`` is [0, 1)."""
    return Bounds(low, high, ends, why)


# ----- the checks ------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """The value as the message shows it, on one line: a tensor or array by its shape, a long repr cut short."""
    text = repr(value)
    if "\n" not in text and len(text) <= 80:
        return text
    if hasattr(value, "shape"):
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    return text.replace("\n", " ")[:77] + "..."


def _split_optional(kind: Any) -> tuple[Any, bool]:
    """(the annotation without ``| None``, whether None is allowed)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        (kind,) = (arg for arg in args if arg is not type(None))  # X | None, with one X
        return kind, True
    return kind, False


def _fits(value: Any, kind: Any, bounds: Bounds | None) -> bool:
    if typing.get_origin(kind) is typing.Literal:
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(kind))
    if kind is bool:
        return isinstance(value, bool)
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            return False
        if kind is float and not math.isfinite(value):
            return False
        return bounds is None or value in bounds
    origin = typing.get_origin(kind) or kind
    return not isinstance(origin, type) or isinstance(value, origin)


def _describe(kind: Any, bounds: Bounds | None) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
    if kind is bool:
        return "True or False"
    if kind is int or kind is float:
        noun = "int" if kind is int else "number"
        return (bounds or Bounds()).describe(noun)
    origin = typing.get_origin(kind) or kind
    return f"a {getattr(origin, '__name__', origin)}"


def check_value(owner: str, name: str, value: Any, kind: Any, bounds: Bounds | None = None) -> None:
    """Raise a one-line ValueError naming ``owner.name`` unless ``value`` is of type ``kind``, within ``bounds``.

    ``kind`` is an annotation: ``int``, ``float``, ``bool``, ``str``, a ``Literal``, a class, each maybe ``| None``.
    """
    kind, optional = _split_optional(kind)
    if optional and value is None:
        return
    if not _fits(value, kind, bounds):
        what = _describe(kind, bounds) + (" or None" if optional else "")
        why = f" ({bounds.why})" if bounds is not None and bounds.why else ""
        raise ValueError(f"{owner}.{name}={_show(value)}: must be {what}{why}")


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The annotation of each field of the dataclass ``cls``, resolved (``from __future__ import annotations``)."""
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def check_fields(config: Any) -> None:
    """Check every field of the dataclass ``config`` against its annotation and its class's ``bounds`` table.

    ``bounds`` (a class attribute, ``{field name: Bounds}``) holds the numbers' intervals; a subclass
    that adds fields extends its parent's table. Raises the ValueError of :func:`check_value`.
    """
    cls = type(config)
    kinds = _field_types(cls)
    bounds: dict[str, Bounds] = getattr(cls, "bounds", {})
    unknown = sorted(name for name in bounds if _split_optional(kinds.get(name))[0] not in (int, float))
    if unknown:
        raise TypeError(f"{cls.__name__}.bounds: {', '.join(unknown)} must be int or float fields of {cls.__name__}")
    for name, kind in kinds.items():
        check_value(cls.__name__, name, getattr(config, name), kind, bounds.get(name))


def field_error(config: Any, name: str, why: str) -> ValueError:
    """The one-line ValueError of a rule across fields: ``Class.name=value: why``."""
    return ValueError(f"{type(config).__name__}.{name}={_show(getattr(config, name))}: {why}")


# ----- flags from fields ------------------------------------------------------------------------
#
# A command line (rssm-train, python -m rssm.dreamer, the benchmarks) gets one flag per config field,
# with the field's comment as its help: the settings are declared once, in the dataclass.


def field_comments(cls: type) -> dict[str, str]:
    """The comment after each field of a dataclass (and of the dataclasses it extends), by field name.

    Read with Python's own tokenizer, so that a ``#`` inside a default (``color: str = "#ff0000"  # ...``)
    is not taken for the start of the comment.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        source = textwrap.dedent(inspect.getsource(klass))
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        on_line = {token.start[0]: token.string[1:].strip() for token in tokens if token.type == tokenize.COMMENT}
        (class_def,) = ast.parse(source).body
        for node in class_def.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id in names:
                lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
                comment = next((on_line[line] for line in lines if on_line.get(line)), None)
                if comment is not None:
                    comments[node.target.id] = comment
    return comments


def _value_parser(annotation: Any) -> tuple[Any, list[str] | None]:
    """(argparse type, choices) for a field's type: int, float, str, a Literal, or one of them | None."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        (annotation,) = [a for a in args if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return str, list(typing.get_args(annotation))
    if not optional:
        return annotation, None

    def parse(text: str) -> Any:  # "none" for None, else the type's value
        return None if text.lower() == "none" else annotation(text)

    parse.__name__ = annotation.__name__  # argparse names the type in its error: "invalid int value"
    return parse, None


def add_fields(parser: argparse.ArgumentParser, title: str, cls: type, names: tuple[str, ...] | None = None,
               show_default_only: bool = False) -> None:
    """One flag per field of ``cls`` (or of ``names``), in an argument group called ``title``.

    A bool field ``use_x``/``x`` gets ``--use_x``/``--x`` and ``--no_x``. With ``show_default_only``
    the flags default to None (so that only the flags a user typed are known) and the help shows the
    field's default.
    """
    group = parser.add_argument_group(title)
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    for field in dataclasses.fields(cls):
        if names is not None and field.name not in names:
            continue
        default = field.default
        help_text = comments.get(field.name, "")
        if hints[field.name] is bool:
            pair = group.add_mutually_exclusive_group()
            pair.add_argument(f"--{field.name}", dest=field.name, action="store_true",
                              default=None if show_default_only else default,
                              help=f"{help_text} (default: {'on' if default else 'off'})")
            pair.add_argument(f"--no_{field.name.removeprefix('use_')}", dest=field.name, action="store_false",
                              help=f"turn --{field.name} off")
            continue
        value_type, choices = _value_parser(hints[field.name])
        group.add_argument(f"--{field.name}", type=value_type, choices=choices, default=None if show_default_only else default,
                           help=f"{help_text} (default: {default})")
