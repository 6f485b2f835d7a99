"""The JSONPath subset SageMaker's DataProcessing filters accept.

``$`` (everything), ``$.key`` and ``$.a.b`` (a member), ``$['a','b']`` (several members,
kept as an object), ``$[2]``, ``$[-1]``, ``$[1:]``, ``$[0,5:]``, ``$[0,-1]`` (indices and
slices of an array, unions kept in order). A CSV line is filtered as the array of its
fields, as SageMaker does. General JSONPath libraries evaluate to lists of matches and do not
keep SageMaker's shapes (an object for a member list, an array for a union), so this small
evaluator is written here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Step = Callable[[Any], Any]

_MEMBER = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_SLICE = re.compile(r"^(-?\d*)\s*:\s*(-?\d*)$")


class JsonPathError(ValueError):
    """An expression outside the supported subset, or one that does not fit the record."""


def compile_path(expression: str) -> Step:
    """Compile an expression to a function from a record to the selected value."""
    text = expression.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"{expression!r}: a filter starts with '$'")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        member = _MEMBER.match(text, position)
        bracket = _BRACKET.match(text, position)
        if member:
            steps.append(_member(member.group(1)))
            position = member.end()
        elif bracket:
            steps.append(_selector(bracket.group(1), expression))
            position = bracket.end()
        else:
            raise JsonPathError(f"{expression!r}: cannot read from {text[position:]!r}")

    def evaluate(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return evaluate


def _member(name: str) -> Step:
    def select(value: Any) -> Any:
        if not isinstance(value, dict) or name not in value:
            raise JsonPathError(f"the record has no member {name!r}")
        return value[name]

    return select


def _selector(inside: str, expression: str) -> Step:
    parts = [part.strip() for part in inside.split(",")]
    if parts and all(_is_quoted(part) for part in parts):
        names = [part[1:-1] for part in parts]
        if len(names) == 1:
            return _member(names[0])

        def select_members(value: Any) -> Any:
            if not isinstance(value, dict):
                raise JsonPathError(
                    f"{expression!r} selects members, but the record is not an object"
                )
            return {name: value[name] for name in names if name in value}

        return select_members
    pickers: list[Callable[[list[Any]], list[Any]]] = []
    single = len(parts) == 1 and _SLICE.match(parts[0]) is None
    for part in parts:
        sliced = _SLICE.match(part)
        if sliced:
            start, stop = (int(x) if x else None for x in sliced.groups())
            pickers.append(lambda items, s=slice(start, stop): items[s])
        elif re.fullmatch(r"-?\d+", part):
            index = int(part)
            pickers.append(lambda items, i=index: [items[i]])
        else:
            raise JsonPathError(f"{expression!r}: cannot read the selector [{inside}]")

    def select_items(value: Any) -> Any:
        if not isinstance(value, list):
            raise JsonPathError(
                f"{expression!r} selects array items, but the record is not an array"
            )
        try:
            chosen = [item for pick in pickers for item in pick(value)]
        except IndexError:
            raise JsonPathError(
                f"{expression!r}: index out of range for a record of {len(value)} items"
            ) from None
        return chosen[0] if single else chosen

    return select_items


def _is_quoted(part: str) -> bool:
    return len(part) >= 2 and part[0] == part[-1] and part[0] in "'\""
