"""What changed between two knowledge releases, in words a committee reads.

Works on the raw files of two folders (a release as committed, however old its schema), file by file: the
release itself, sequencing rules, safety gates, evidence, value sets, parameters, drug terminology,
regimens. Lists of records are matched by their identifying field (a rule by its regimen, a code by its
system and code), lists of words by set difference; every other change reads "was …, now …".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from cds_service.knowledge.releases import LOCK_FILE, content_hashes

SECTIONS: dict[str, str] = {
    "knowledge.yaml": "Release",
    "rules.yaml": "Sequencing rules (places, evidence, rationale)",
    "gates.yaml": "Safety gates and patient-specific rules",
    "evidence.yaml": "Evidence (trials and later-evidence notes)",
    "conditions.yaml": "Value sets (codes and text the charts are read with)",
    "parameters.yaml": "Clinical parameters",
    "terminology.yaml": "Drug terminology (agents, brands, RxNorm codes)",
    "regimens.yaml": "Regimens",
}
# Containers whose name adds nothing to a path read aloud ("settings, after_sorafenib, options, ...").
_QUIET = {"settings", "options", "gates", "trials", "agents", "regimens", "releases"}
_RECORD_KEYS = ("regimen", "id", "code", "text")
_CODED = {"place", "evidence", "severity", "place_cap", "max_place"}  # enum values read as words


def _load(folder: Traversable, name: str) -> Any:
    text = folder.joinpath(name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def _say(value: Any) -> str:
    if isinstance(value, str):
        return f'"{" ".join(value.split())}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_say(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_say(v)}" for k, v in value.items()) + "}"
    return "none" if value is None else str(value)


def _where(path: tuple[str, ...]) -> str:
    """A path read aloud: container names left out (except the last), ids with spaces for underscores."""
    shown = [part.replace("_", " ") for i, part in enumerate(path) if part not in _QUIET or i == len(path) - 1]
    return " \u203a ".join(shown) or "(whole file)"


def _identifies(key: str, items: list[Any]) -> bool:
    values = [_identity(item, key) if item.get(key) is not None else None for item in items]
    return None not in values and len(set(values)) == len(values)


def _record_key(old: list[Any], new: list[Any]) -> str | None:
    """The field that identifies each record of two lists of mappings (None: not lists of records)."""
    if not old + new or not all(isinstance(item, dict) for item in old + new):
        return None
    return next((key for key in _RECORD_KEYS if _identifies(key, old) and _identifies(key, new)), None)


def _identity(item: dict[str, Any], key: str) -> str:
    if key == "code" and "system" in item:
        return f"{item['system']}|{item['code']}"
    value = item[key]
    return value if isinstance(value, str) else json.dumps(value)


def changes(old: Any, new: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every difference between two parsed files, one sentence each."""
    if old == new:
        return
    where = _where(path)
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                yield f"{_where((*path, str(key)))}: removed (was {_say(old[key])})"
            elif key not in old:
                yield f"{_where((*path, str(key)))}: added: {_say(new[key])}"
            else:
                yield from changes(old[key], new[key], (*path, str(key)))
        return
    if isinstance(old, list) and isinstance(new, list):
        key = _record_key(old, new)
        if key is not None:
            before = {_identity(item, key): item for item in old}
            after = {_identity(item, key): item for item in new}
            for ident, item in before.items():
                if ident not in after:
                    yield f"{where}: removed {ident} ({_say({k: v for k, v in item.items() if k != key})})"
            for ident, item in after.items():
                if ident not in before:
                    yield f"{where}: added {ident} ({_say({k: v for k, v in item.items() if k != key})})"
                else:
                    yield from changes(before[ident], item, (*path, ident))
            return
        if all(not isinstance(v, dict | list) for v in old + new):
            removed = [v for v in old if v not in new]
            added = [v for v in new if v not in old]
            if removed:
                yield f"{where}: removed {_say(removed)}"
            if added:
                yield f"{where}: added {_say(added)}"
            if not removed and not added:
                yield f"{where}: reordered"
            return
    if path and path[-1] in _CODED and isinstance(old, str) and isinstance(new, str):
        old, new = old.replace("_", " "), new.replace("_", " ")
    yield f"{where}: was {_say(old)}, now {_say(new)}"


def knowledge_diff(old: Traversable, new: Traversable) -> list[tuple[str, list[str]]]:
    """(section title, sentences) for each knowledge file that differs between the two folders."""
    old_hashes, new_hashes = content_hashes(old), content_hashes(new)
    sections = []
    for name in sorted(
        set(old_hashes) | set(new_hashes), key=lambda n: (list(SECTIONS).index(n) if n in SECTIONS else 99, n)
    ):
        if name == LOCK_FILE or old_hashes.get(name) == new_hashes.get(name):
            continue
        title = SECTIONS.get(name, name)
        if name not in old_hashes:
            sections.append((title, [f"{name} is new in this release"]))
        elif name not in new_hashes:
            sections.append((title, [f"{name} was removed"]))
        else:
            said = list(changes(_load(old, name), _load(new, name)))
            sections.append((title, said or [f"{name}: comments or layout only (no change in content)"]))
    return sections


def diff_text(old_label: str, new_label: str, sections: list[tuple[str, list[str]]]) -> str:
    """The diff as plain text: a heading, then each section with one line per change."""
    lines = [f"Knowledge changes from {old_label} to {new_label}", ""]
    if not sections:
        lines.append("No knowledge file differs.")
    for title, sentences in sections:
        lines.append(f"{title}:")
        lines += [f"  - {sentence}" for sentence in sentences]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
