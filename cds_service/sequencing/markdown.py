"""Markdown escaping, one home for the decision table and the cards."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell or a one-line list item: no pipes, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")
