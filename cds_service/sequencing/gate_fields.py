"""Which message placeholders a gate function fills, read from its code at start-up.

A gate's ``summary`` and ``message`` (knowledge/gates.yaml) are templates whose ``{placeholders}`` its
function fills (``Fired({"line": ...})``). A typo in either would only fail when the gate fires, at
request time; this module reads the names a function can fill from its source (the string keys of the
dictionaries it and the same-module helpers it calls build, and ``dict(name=...)`` keywords) so that
``check_gate_registry`` refuses the knowledge at start-up instead.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from string import Formatter
from typing import Any


def placeholders(template: str) -> set[str]:
    """The field names of a ``str.format`` template ("{afp} below {cutoff}" → {"afp", "cutoff"})."""
    names = set()
    for _, field_name, _, _ in Formatter().parse(template):
        if field_name is not None:
            names.add(field_name.split(".", 1)[0].split("[", 1)[0])
    return names


def _tree(function: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None


def filled_fields(function: Callable[..., Any]) -> set[str] | None:
    """The names ``function`` (and the helpers of its module it calls) can put in a message; None when its
    source cannot be read (nothing is then checked)."""
    names: set[str] = set()
    seen: set[int] = set()
    pending: list[Callable[..., Any]] = [function]
    module = getattr(function, "__module__", None)
    readable = False
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tree = _tree(current)
        if tree is None:
            continue
        readable = True
        scope = getattr(current, "__globals__", {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                names |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "dict":
                    names |= {k.arg for k in node.keywords if k.arg}
                helper = scope.get(node.func.id)
                if inspect.isfunction(helper) and helper.__module__ == module:
                    pending.append(helper)
    return names if readable else None


def reads_parameter(function: Callable[..., Any], index: int) -> bool:
    """Whether ``function``'s body reads its parameter at ``index`` by name; True when its source cannot be read,
    is not this function's (a file changed under the running process) or it takes no such parameter (a gate
    that never reads its regimen's agents answers the same for every regimen of one patient)."""
    tree = _tree(function)
    definition = tree.body[0] if isinstance(tree, ast.Module) and tree.body else None
    if not isinstance(definition, ast.FunctionDef) or definition.name != getattr(function, "__name__", None):
        return True
    if len(definition.args.args) <= index:
        return True
    name = definition.args.args[index].arg
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(definition))
