"""The one input-hygiene rule of every door (API parser, floor pages, admin forms, imports).

Text that reaches this system must be text a database column can hold and a page can show:

- no NUL character (``\\x00``): PostgreSQL refuses it in text columns (a 500 where it reaches
  a query), and no scanner or keyboard types it;
- no lone UTF-16 surrogate (``\\ud800``-``\\udfff``, which a JSON escape can smuggle in): it is
  not a character, cannot be encoded as UTF-8, and breaks every page or message that shows it;
- no longer than its column (``max_length``), checked before the database sees it.

``text_problem`` says what is wrong in words that fit after a field's name ("contains a NUL
character ..."), or None. ``first_text_problem`` walks a parsed JSON document (keys and values)
for the first offending string and names where it is (``lines.0.kind``).

This module imports no app and no Django: every door may use it (catalog is the lowest app).
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """What is wrong with ``value`` as text for a column of ``max_length`` characters (any
    length when None): a sentence fragment naming the problem, or None when it is fine. The
    message never echoes the offending character (a lone surrogate cannot be rendered)."""
    if "\x00" in value:
        return "contains a NUL character (\\x00), which text may not hold: remove it"
    found = _SURROGATE.search(value)
    if found is not None:
        return (
            f"contains a lone UTF-16 surrogate (U+{ord(found.group()):04X}) at position {found.start() + 1}, "
            "which is not a character: send valid Unicode text"
        )
    if max_length is not None and len(value) > max_length:
        return f"is {len(value)} characters long; at most {max_length} fit"
    return None


def printable(value: str) -> str:
    """``value`` as it can be shown and written anywhere: NUL and lone surrogates as escapes
    (``\\x00``, ``\\ud800``), everything else as it is."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def first_text_problem(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first string in ``data`` (dicts, lists and scalars as ``json.loads`` returns them;
    keys included) with a ``text_problem``: ``(where, problem)``; ``where`` is the dotted path
    (``lines.0.kind``; ``(body)`` for the document itself). None when every string is fine.
    Iterative, so any depth the parser let through is walked without recursion."""
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                return where or "(body)", problem
        elif isinstance(value, dict):
            for key, child in reversed(list(value.items())):
                key_text = str(key)
                problem = text_problem(key_text)
                if problem is not None:
                    return (where or "(body)"), f"has a key that {problem}"
                stack.append((child, f"{where}.{key_text}" if where else key_text))
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], f"{where}.{index}" if where else str(index)))
    return None
