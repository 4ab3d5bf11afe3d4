"""The pharmacist review page: the queued cards, each as it would have been shown, with a verdict form.

Server-rendered HTML, no script, nothing loaded from elsewhere. It shows references and dates only (the
patient and encounter references of the hook context, never a name) and the cards exactly as the EHR would
have shown them: indicator, summary, detail (Markdown source, as sent), suggestions, links and source.
"""

from __future__ import annotations

from html import escape
from typing import Any

from cds_service.store.review_queue import VERDICT_REASONS, VERDICTS, ReviewItem

REVIEW_PATH = "/review"

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:72rem;margin:1.5rem auto;
padding:0 1rem;line-height:1.4;color:#1b1b1b}
.item{border:1px solid #ccd;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.meta{color:#444;font-size:.9rem}.meta code{background:#f3f3f6;padding:0 .25rem}
.card{border-left:6px solid #5b8def;background:#fafbff;padding:.5rem .75rem;margin:.5rem 0}
.card.warning{border-color:#e0a100;background:#fffaf0}.card.critical{border-color:#c62828;background:#fff5f5}
.summary{font-weight:600}.detail{white-space:pre-wrap;font-family:inherit;margin:.5rem 0}
.verdict{background:#f2f7f2;padding:.5rem .75rem}.done{color:#1b5e20;font-weight:600}
.committee{color:#8e24aa;font-weight:600}form label{margin-right:1rem}textarea{width:100%;min-height:3rem}
nav a{margin-right:1rem}
"""


def _card_html(card: dict[str, Any]) -> str:
    indicator = str(card.get("indicator", "info"))
    parts = [
        f'<div class="card {escape(indicator)}" data-card="{escape(str(card.get("uuid", "")))}">',
        f"<div><small>{escape(indicator.upper())}</small></div>",
        f'<div class="summary">{escape(str(card.get("summary", "")))}</div>',
    ]
    if card.get("detail"):
        parts.append(f'<pre class="detail">{escape(str(card["detail"]))}</pre>')
    suggestions = card.get("suggestions") or []
    if suggestions:
        recommended = " <strong>(recommended)</strong>"
        items = "".join(
            f"<li>{escape(str(s.get('label', '')))}{recommended if s.get('isRecommended') else ''}</li>"
            for s in suggestions
        )
        parts.append(f"<div>Suggestions:<ul>{items}</ul></div>")
    links = card.get("links") or []
    if links:
        items = "".join(
            f"<li>{escape(str(link.get('label', '')))} <small>({escape(str(link.get('url', '')))})</small></li>"
            for link in links
        )
        parts.append(f"<div>Links:<ul>{items}</ul></div>")
    reasons = card.get("overrideReasons") or []
    if reasons:
        parts.append(
            "<div><small>Override reasons offered: "
            + escape("; ".join(str(r.get("display", r.get("code", ""))) for r in reasons))
            + "</small></div>"
        )
    source = card.get("source") or {}
    parts.append(f"<div><small>Source: {escape(str(source.get('label', '')))}</small></div></div>")
    return "".join(parts)


def _verdict_form(item: ReviewItem, form_token: str) -> str:
    radios = "".join(
        f'<label><input type="radio" name="verdict" value="{v}" required{" checked" if item.verdict == v else ""}> '
        f"{v}</label>"
        for v in VERDICTS
    )
    options = '<option value="">(choose a reason)</option>' + "".join(
        f'<option value="{code}"{" selected" if item.reason_code == code else ""}>{escape(label)}</option>'
        for code, label in VERDICT_REASONS
    )
    done = (
        f'<p class="done">Verdict recorded: {escape(item.verdict)} ({escape(item.reason_code or "")})</p>'
        if item.verdict
        else ""
    )
    return (
        f'<div class="verdict">{done}<form method="post" action="{REVIEW_PATH}/{escape(item.card_uuid)}">'
        f'<input type="hidden" name="form_token" value="{escape(form_token)}">'
        f"<div>{radios}</div>"
        f'<div><label>Reason <select name="reason_code" required>{options}</select></label></div>'
        '<div><label for="note-' + escape(item.card_uuid) + '">Note (no patient names)</label>'
        f'<textarea id="note-{escape(item.card_uuid)}" name="note">{escape(item.note or "")}</textarea></div>'
        '<button type="submit">Record verdict</button></form></div>'
    )


def review_page_html(
    items: list[ReviewItem], *, form_token: Any, pilot: str, knowledge: str, view: str, retention_days: int
) -> str:
    """The queue: one block per queued card, newest first. ``form_token(card_uuid)`` guards each form."""
    blocks = []
    for item in items:
        committee = (
            f' · <span class="committee">committee queue: {escape(item.committee_reason)}</span>'
            if item.committee_reason
            else ""
        )
        meta = (
            f'<div class="meta">Queued {escape(item.queued_at.date().isoformat())} · {escape(item.hook)} · '
            f"{escape(item.queued_because)} · patient <code>{escape(item.patient or '—')}</code> · encounter "
            f"<code>{escape(item.encounter or '—')}</code> · knowledge v{escape(item.knowledge_version or '?')}"
            f"{committee}</div>"
        )
        cards = _card_html(item.card)
        blocks.append(
            f'<section class="item" id="item-{escape(item.card_uuid)}">{meta}{cards}'
            f"{_verdict_form(item, form_token(item.card_uuid))}</section>"
        )
    empty = "<p>No cards in this view.</p>"
    views = " ".join(
        f'<a href="{REVIEW_PATH}?view={name}"{" aria-current=page" if name == view else ""}>{label}</a>'
        for name, label in (("pending", "To review"), ("all", "All"), ("committee", "Committee queue"))
    )
    body = "".join(blocks) or empty
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pharmacist review queue</title><style>{_STYLE}</style></head><body>
<h1>Pharmacist review queue</h1>
<p>Warning and critical cards (and a sample of info cards), as they would have been shown. Check each against
the chart and record a verdict. References and dates only; entries are deleted {retention_days} days after they
were queued. Pilot: {escape(pilot)}. Knowledge v{escape(knowledge)}.</p>
<nav>{views}</nav>
{body}
</body></html>
"""
