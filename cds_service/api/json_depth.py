"""The nesting depth of a JSON body, measured on its bytes with C-speed byte operations (no walk over the
parsed objects, no recursion).

Escaped backslashes and quotes are removed, then everything but quotes and brackets; the brackets inside
strings go with their strings (a bracket is inside a string when an odd number of quotes precede it, so
removing adjacent quote pairs first changes nothing); ``{}`` become ``[]`` (depth does not care which).
Each pass then removes every innermost ``[]``: a body at most ``limit`` deep is gone after ``limit``
passes. Only for bodies that already parsed as JSON.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"[^"]*"')
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')


def deeper_than(body: bytes, limit: int) -> bool:
    """True when arrays and objects in the JSON ``body`` nest more than ``limit`` levels."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(_OBJECTS_AS_ARRAYS, _NOT_QUOTES_OR_BRACKETS).replace(b'""', b"")
    if b'"' in marks:  # strings that hold brackets
        marks = _STRING.sub(b"", marks)
    for _ in range(limit):
        if not marks:
            return False
        marks = marks.replace(b"[]", b"")
    return bool(marks)
