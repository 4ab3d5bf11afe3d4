"""A release judged by its clinical effect: every scenario and fixture patient through two knowledge releases.

Each case (a hook request and the date to evaluate it on) runs through the service's pipeline twice, once with
each release, and the patients whose advice changes are listed: setting, places, indicators, gates fired.
Fixtures are the hook requests of ``fixtures/fhir/requests`` (evaluated as of the fixtures' date); scenarios
are the clinical scenarios, built into hook requests by the repository's scenario builder (so a checkout is
needed for them).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.config import Settings
from cds_service.errors import CdsServiceError
from cds_service.hooks.models import HookRequest
from cds_service.hooks.pipeline import HookPipeline
from cds_service.hooks.services import SERVICE_ID_BY_HOOK, ServiceDefinition, service_definitions
from cds_service.knowledge import Knowledge, KnowledgeError, load_knowledge
from cds_service.knowledge.pilot import PilotSwitches

FIXTURES_AS_OF = date(2026, 11, 25)
_FAILED = "(cannot be evaluated with this code:"  # the date the fixture patients are written for (tests pin it too)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    hook: str
    request: dict[str, Any]
    as_of: date


@dataclass(frozen=True, slots=True)
class Change:
    case: str
    what: str  # "setting", "place of <regimen>", "indicators", "gates"
    old: str
    new: str


def fixture_cases(folder: Path) -> list[Case]:
    """The hook requests of the fixtures folder."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        request = json.loads(path.read_text(encoding="utf-8"))
        cases.append(Case(f"fixture {path.stem}", str(request.get("hook")), request, FIXTURES_AS_OF))
    return cases


def scenario_cases(folder: Path, repo: Path) -> list[Case]:
    """The clinical scenarios as hook requests (the repository's builder; empty when it cannot be imported)."""
    root = str(repo.resolve())
    if root not in sys.path:
        sys.path.append(root)
    try:
        model = importlib.import_module("tests.clinical_scenarios.model")
        fhir = importlib.import_module("tests.clinical_scenarios.fhir")
    except ImportError:
        return []
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        scenario = model.load_scenario(path)
        cases.append(Case(f"scenario {scenario.id}", scenario.hook, fhir.hook_request(scenario), scenario.as_of))
    return cases


def _advice(pipeline: HookPipeline, services: dict[str, ServiceDefinition], case: Case) -> dict[str, str]:
    """What the advice was for one case: setting, places, indicators and gates, each as a short text."""
    service = services.get(SERVICE_ID_BY_HOOK.get(case.hook, ""))
    if service is None:
        return {"setting": f"(no service for hook {case.hook})"}
    pipeline.clock = lambda: case.as_of
    try:
        outcome = asyncio.run(pipeline.run(service, HookRequest.model_validate(case.request)))
    except CdsServiceError as exc:
        return {"setting": f"(refused: {exc.diagnostics})"}
    except Exception as exc:  # an older release may lack data this code needs: say so, run the other cases
        return {"setting": f"{_FAILED} {type(exc).__name__}: {exc})"}
    rec = outcome.recommendation
    if rec is None or not rec.applicable:
        return {"setting": "(not applicable)" if rec is not None else "(not relevant)"}
    return {
        "setting": rec.setting.value if rec.setting else "(not determined)",
        **{f"place of {o.regimen_id}": o.place.label for o in rec.options},
        "indicators": ", ".join(sorted(i.card.indicator for i in outcome.issued)) or "(no card)",
        "gates": ", ".join(sorted({g for i in outcome.issued for g in i.gates})) or "(none)",
    }


def _pipeline(knowledge: Knowledge) -> tuple[HookPipeline, dict[str, ServiceDefinition]]:
    settings = Settings(environment="development", auth_disabled=True, facts_cache_size=0)
    live = knowledge.model_copy(update={"pilot": PilotSwitches()})  # every hook on, as the clinician would see it
    return HookPipeline(live, settings), service_definitions(live)


def knowledge_impact(
    old: Path, new: Path, scenarios: Path, fixtures: Path, repo: Path = Path()
) -> tuple[list[Change], int]:
    """The changes in advice between two releases (folders), over every case; and how many cases ran."""
    try:
        before, after = load_knowledge(folder=old), load_knowledge(folder=new)
    except KnowledgeError as exc:
        raise KnowledgeError(f"{exc} (a release must load with this version of the code)") from exc
    old_run, new_run = _pipeline(before), _pipeline(after)
    cases = [*scenario_cases(scenarios, repo), *fixture_cases(fixtures)]
    changes = []
    for case in cases:
        was, now = _advice(*old_run, case), _advice(*new_run, case)
        failed = [side.get("setting", "") for side in (was, now) if side.get("setting", "").startswith(_FAILED)]
        if failed:  # one line, not a list of every place the other release has
            changes.append(Change(case.name, "evaluation", was.get("setting", "-"), now.get("setting", "-")))
            continue
        changes += [
            Change(case.name, what, was.get(what, "(not listed)"), now.get(what, "(not listed)"))
            for what in dict.fromkeys([*was, *now])
            if was.get(what) != now.get(what)
        ]
    return changes, len(cases)


def impact_text(old_label: str, new_label: str, changes: list[Change], total: int) -> str:
    """The impact as plain text: per patient whose advice changes, each change was → now."""
    lines = [f"Advice that changes from {old_label} to {new_label} ({total} scenario and fixture patients run)", ""]
    by_case: dict[str, list[Change]] = {}
    for change in changes:
        by_case.setdefault(change.case, []).append(change)
    if not by_case:
        lines.append("No patient's advice changes.")
    for case, items in by_case.items():
        lines.append(f"{case}:")
        lines += [f"  - {c.what}: was {c.old}; now {c.new}" for c in items]
    failed = {c.case for c in changes if c.what == "evaluation"}
    tail = f"; {len(failed)} could not be evaluated by one release with this code" if failed else ""
    lines += ["", f"{len(by_case) - len(failed)} of {total} patients' advice changes{tail}."]
    return "\n".join(lines) + "\n"
