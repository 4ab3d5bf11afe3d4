"""HTML pages of the knowledge base: one per treatment setting, the full evidence behind a card.

A card carries a handful of links; the whole decision-table slice for its setting (every regimen with its
place, evidence, conditions and review section), every trial with its registry and publication links, and
the dated later-evidence notes live here. The pages hold knowledge only, never patient data.
"""

from __future__ import annotations

from html import escape
from string import Formatter
from typing import Any

from cds_service.cards.links import KNOWLEDGE_SETTINGS_PATH, RECRUITING_HCC_TRIALS_URL
from cds_service.knowledge import EvidenceLevel, Knowledge, Place, SettingId, Trial
from cds_service.sequencing.table import decision_table

SETTINGS_PATH = KNOWLEDGE_SETTINGS_PATH

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:70rem;margin:1.5rem auto;
padding:0 1rem;line-height:1.45;color:#1b1b1b}
table{border-collapse:collapse;width:100%;margin:.75rem 0}th,td{border:1px solid #ccc;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f2f2f2}blockquote{border-left:4px solid #bbb;margin:.5rem 0;
padding:.25rem .75rem;color:#333}.place-preferred{font-weight:600}small{color:#555}
"""


# How a gate message's patient-specific placeholder reads on a page that shows no patient: the value the
# card fills in, described. Parameter placeholders get the site's value instead (``_parameter_values``).
PLACEHOLDER_WORDS: dict[str, str] = {
    "afp": "the patient's latest AFP",
    "value": "the AFP value",
    "why": "the reason (missing, not comparable, too old or undetermined)",
    "fact": "what the record shows",
    "line": "n",
    "lines": "the prior lines",
    "stop": "how and when it ended",
    "agents": "the regimen given",
    "basis": "the score and the labs it rests on",
    "classes": "the possible classes",
    "unknown": "what is not recorded",
    "score_min": "the lowest possible score",
    "score_max": "the highest possible score",
    "grade": "the recorded grade",
    "when": "the date it was recorded",
    "what": "the recorded condition",
    "reference": "the chart entry",
}


def release_text(knowledge: Knowledge) -> str:
    """The release's sign-off in words ("signed off by … on …, reference", "not signed off"), or that its
    content is not locked (knowledge/releases.yaml)."""
    if knowledge.release is None:
        return "content not locked (no entry in releases.yaml), not signed off"
    return knowledge.release.describe()


def _parameter_values(knowledge: Knowledge) -> dict[str, str]:
    cutoff = knowledge.parameters.afp_cutoff_ng_per_ml
    return {"cutoff": f"{cutoff.normalize():f}"}


def rule_text(template: str, knowledge: Knowledge) -> str:
    """A gate's message as a page shows it (HTML): parameters filled with their values, every patient-specific
    placeholder replaced by its description in italics; never a raw ``{placeholder}``."""
    values = _parameter_values(knowledge)
    parts = []
    for literal, field, _, _ in Formatter().parse(template):
        parts.append(escape(literal))
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if name in values:
            parts.append(escape(values[name]))
        else:
            parts.append(f"<em>{escape(PLACEHOLDER_WORDS.get(name, name.replace('_', ' ')))}</em>")
    return " ".join("".join(parts).split())


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )


def _link(url: str | None, label: str) -> str:
    if not url:
        return escape(label)
    return f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(label)}</a>'


def _footer(knowledge: Knowledge) -> list[str]:
    info = knowledge.info
    return [
        "<hr>",
        f"<p><small>Knowledge: {escape(info.name)} v{escape(knowledge.version)} ({info.date.isoformat()}). "
        f"Source: {escape(info.review.label)}. Decision support from a 2021 review plus dated later evidence; "
        "the clinician decides.</small></p>",
        f'<p id="release"><small>Release {escape(info.version)}: {escape(release_text(knowledge))}.</small></p>',
    ]


def settings_index_html(knowledge: Knowledge) -> str:
    """The list of settings, each linking to its page."""
    table = decision_table(knowledge)
    items = [
        f'<li><a href="{SETTINGS_PATH}/{escape(s["setting"])}">{escape(s["title"])}</a></li>' for s in table["settings"]
    ]
    body = [
        f"<h1>{escape(knowledge.info.name)}: treatment settings</h1>",
        "<p>Each page shows the review's recommendations for one setting, the trials behind them and the "
        "later evidence.</p>",
        "<ul>",
        *items,
        "</ul>",
        *_footer(knowledge),
    ]
    return _page(f"{knowledge.info.name}: settings", body)


def _trial_rows(trial_ids: list[str], trials: dict[str, Trial]) -> list[str]:
    rows = [
        "<table><thead><tr><th>Trial</th><th>Design</th><th>Registry</th><th>Publication</th>"
        "<th>Key result</th><th>Review section</th></tr></thead><tbody>"
    ]
    for trial_id in trial_ids:
        trial = trials[trial_id]
        registry = _link(trial.registry_url, trial.nct) if trial.nct else "—"
        where = f"doi {trial.doi}" if trial.doi else (f"PubMed {trial.pmid}" if trial.pmid else "")
        publication = _link(trial.publication_url, where) if where else "—"
        later = " <small>(after the review)</small>" if trial.after_review else ""
        rows.append(
            f'<tr id="trial-{escape(trial_id)}"><td><strong>{escape(trial_id)}</strong>{later}<br>'
            f"<small>{escape(trial.title)}</small></td><td>{escape(trial.design or '—')}</td>"
            f"<td>{registry}</td><td>{publication}</td><td>{escape(trial.key_result)}</td>"
            f"<td>{escape(trial.review_section)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return rows


def setting_html(knowledge: Knowledge, setting_id: SettingId) -> str:
    """The page of one setting: decision-table rows, the trials behind them, and the later-evidence notes."""
    table = decision_table(knowledge)
    setting = next(s for s in table["settings"] if s["setting"] == setting_id.value)
    options: list[dict[str, Any]] = setting["options"]
    notes: list[dict[str, Any]] = setting["later_evidence"]
    trial_ids = list(
        dict.fromkeys([*(t for row in options for t in row["trials"]), *(t for n in notes for t in n["trials"])])
    )
    body = [
        f'<p><small><a href="{SETTINGS_PATH}">All settings</a></small></p>',
        f"<h1>{escape(setting['title'])}</h1>",
        f"<p>Second-line systemic therapy for advanced hepatocellular carcinoma: what the review recommends "
        f"in this setting. Review section: {escape(setting['source']['section'])}.</p>",
    ]
    if setting["source"].get("quote"):
        body.append(f"<blockquote>“{escape(setting['source']['quote'])}”</blockquote>")
    body += [f"<blockquote>{escape(note)}</blockquote>" for note in setting["notes"]]
    gates = knowledge.gates
    everywhere = [g for g, gate in gates.items() if gate.scope == "all"]
    body += [
        "<h2>Regimens</h2>",
        "<p>Safety gates and patient-specific rules for every regimen: "
        + "; ".join(escape(gates[g].title) for g in everywhere)
        + ".</p>",
        "<table><thead><tr><th>Regimen</th><th>Place</th><th>Evidence</th><th>Trials</th><th>Why</th>"
        "<th>Further rules that can move it down</th><th>Review section</th></tr></thead><tbody>",
    ]
    for row in options:
        place = Place(row["place"])
        trials = ", ".join(f'<a href="#trial-{escape(t)}">{escape(t)}</a>' for t in row["trials"]) or "—"
        own = [g for g in row["gates"] if g not in everywhere]
        items = "".join(f"<li>{escape(gates[g].title)}: {rule_text(gates[g].message, knowledge)}</li>" for g in own)
        rules = f"<ul>{items}</ul>" if items else "—"
        source = row["extrapolated_from"]
        extrapolated = f" <small>(extrapolated from {escape(source)})</small>" if source else ""
        later = " <small>(later evidence, not the review)</small>" if row["after_review"] else ""
        body.append(
            f'<tr id="regimen-{escape(row["regimen"])}"><td>{escape(row["label"])}</td>'
            f'<td class="place-{place.value}">{escape(row["place_label"])}{extrapolated}{later}</td>'
            f"<td>{escape(EvidenceLevel(row['evidence']).label)}</td><td>{trials}</td>"
            f"<td>{escape(row['rationale'] or '')}</td><td>{rules}</td>"
            f"<td>{escape(row['source']['section'])}</td></tr>"
        )
    body.append("</tbody></table>")
    if trial_ids:
        body += ["<h2>Trials</h2>", *_trial_rows(trial_ids, knowledge.evidence.trials)]
    body.append(
        f"<p>Trial enrollment is always an option: {_link(RECRUITING_HCC_TRIALS_URL, 'recruiting HCC trials')} "
        "on ClinicalTrials.gov.</p>"
    )
    body.append("<h2>Later evidence (after the 2021 review; not part of its recommendations)</h2>")
    if notes:
        body += [
            "<ul>",
            *(f"<li><strong>{escape(n['when'])}</strong>: {escape(n['text'])}</li>" for n in notes),
            "</ul>",
        ]
    else:
        body.append("<p>None recorded for this setting.</p>")
    body += _footer(knowledge)
    return _page(f"{setting['title']}: {knowledge.info.name}", body)
