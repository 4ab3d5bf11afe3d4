"""The knowledge base: sourced, cross-referenced, and refused when broken."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cds_service.knowledge import Knowledge, KnowledgeError, SettingId, load_knowledge
from cds_service.knowledge import loader as knowledge_module


def test_every_option_and_gate_cites_its_source(knowledge: Knowledge) -> None:
    for setting_id, setting in knowledge.sequencing.settings.items():
        assert setting.source.section, setting_id
        for option in setting.options:
            assert option.source.section.strip(), (setting_id, option.regimen)
            assert option.rationale.strip(), (setting_id, option.regimen)
    for gate_id, gate in knowledge.gates.items():
        assert gate.source.section.strip(), gate_id
        assert gate.source.quote.strip(), gate_id


def test_every_setting_has_options(knowledge: Knowledge) -> None:
    """Every setting the review reaches has options; "not determined" (policy 6.5) has none by design."""
    for setting_id in SettingId:
        undetermined = knowledge.sequencing.settings[setting_id].undetermined
        assert bool(knowledge.options_for(setting_id)) is not undetermined, setting_id
    assert knowledge.sequencing.settings[SettingId.NOT_DETERMINED].undetermined


def test_trials_cited_by_level_1_options_have_registry_and_publication(knowledge: Knowledge) -> None:
    for setting in knowledge.sequencing.settings.values():
        for option in setting.options:
            if (
                option.evidence.value == "phase3"
                and not option.after_review
                and option.regimen
                not in (
                    "sorafenib",
                    "lenvatinib",
                    "atezolizumab_bevacizumab",
                )
            ):
                trial = knowledge.evidence.trials[option.trials[0]]
                assert trial.registry_url, option.trials[0]
                assert trial.publication_url, option.trials[0]


def _broken(monkeypatch: pytest.MonkeyPatch, name: str, edit: Any) -> None:
    original = knowledge_module._read_yaml

    def patched(file: str) -> Any:
        data = original(file)
        if file == name:
            edit(data)
        return data

    monkeypatch.setattr(knowledge_module, "_read_yaml", patched)


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        (
            "rules.yaml",
            lambda d: d["settings"]["after_sorafenib"]["options"][0].update(regimen="no-such-regimen"),
            "unknown regimen",
        ),
        (
            "rules.yaml",
            lambda d: d["settings"]["after_sorafenib"]["options"][0].update(trials=["NOPE"]),
            "unknown trial NOPE",
        ),
        ("rules.yaml", lambda d: d["settings"]["after_sorafenib"]["options"][0].pop("source"), "source"),
        ("rules.yaml", lambda d: d["settings"].pop("first_line"), "no rules for setting first_line"),
        ("regimens.yaml", lambda d: d["regimens"]["sorafenib"].update(agents=["sorafenibb"]), "unknown agent"),
        ("evidence.yaml", lambda d: d["trials"]["CELESTIAL"].update(nct="CELESTIAL-1"), "nct"),
        ("terminology.yaml", lambda d: d["agents"]["lenvatinib"]["rxnorm"].append("597747"), "597747"),
        ("gates.yaml", lambda d: d["gates"]["afp_below_cutoff"].update(scope=["ramucirumabb"]), "unknown regimen"),
        ("gates.yaml", lambda d: d["gates"]["child_pugh_c"]["effect"].update(severity="loud"), "severity"),
        ("evidence.yaml", lambda d: d["post_review_notes"][0].pop("date"), "exactly one of date"),
        ("parameters.yaml", lambda d: d.update(afp_cutoff_ng_per_ml=-1), "afp_cutoff_ng_per_ml"),
    ],
    ids=[
        "unknown-regimen",
        "unknown-trial",
        "missing-source",
        "missing-setting",
        "unknown-agent",
        "bad-nct",
        "ambiguous-code",
        "gate-unknown-regimen",
        "gate-unknown-severity",
        "undated-later-evidence",
        "negative-cutoff",
    ],
)
def test_broken_knowledge_fails_at_load(monkeypatch: pytest.MonkeyPatch, file: str, edit: Any, message: str) -> None:
    _broken(monkeypatch, file, edit)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge()


def test_knowledge_files_parse_as_plain_yaml() -> None:
    from importlib import resources

    for name in (
        "knowledge.yaml",
        "rules.yaml",
        "regimens.yaml",
        "evidence.yaml",
        "terminology.yaml",
        "conditions.yaml",
        "gates.yaml",
        "parameters.yaml",
    ):
        assert yaml.safe_load(resources.files("cds_service.knowledge").joinpath(name).read_text()) is not None
