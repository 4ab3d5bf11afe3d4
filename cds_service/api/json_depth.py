"""The nesting depth of a JSON body, measured on the bytes at C speed (no walk over the parsed objects).

Strings are blanked first (a bracket inside a string does not nest), everything but brackets is removed,
then each pass removes the innermost empty pairs: after ``limit`` passes a body at most ``limit`` deep is
gone. Only for bodies that already parsed as JSON.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_INNERMOST = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def deeper_than(body: bytes, limit: int) -> bool:
    """True when arrays and objects in the JSON ``body`` nest more than ``limit`` levels."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)
