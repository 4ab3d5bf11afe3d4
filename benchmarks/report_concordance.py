"""Benchmark: the concordance report over a store of one million issued cards (target: under 10 s).

    python -m benchmarks.report_concordance [--cards 1000000] [--database-url URL [--reuse]] [--keep]

Fills a scratch SQLite store (or the empty store at ``--database-url``, e.g. a PostgreSQL schema) with
synthetic hook calls over twelve months, with feedback at the demo's rates, then times the report: the
five section queries (run side by side) and the sums (JSON), and the HTML with its charts. Each card carries
the safety gates that fired for it, as the fixtures' answers do. Numbers, not
assertions; the exit status is 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from cds_service.cli import _warm_charts
from cds_service.devtools.synthetic_traffic import (
    CallTemplate,
    CardTemplate,
    migrate_scratch_store,
    store_is_empty,
    synthetic_rows,
    weekdays,
    write_rows,
)
from cds_service.report.concordance import Labels, Period, build_report
from cds_service.report.render import render
from cds_service.store.feedback import FeedbackStore

SELECT, SIGN, VIEW = (f"hcc-second-line-{hook}" for hook in ("order-select", "order-sign", "patient-view"))
VERSION = "2026.11.0"
TARGET_SECONDS = 10.0


def card(
    service: str,
    kind: str,
    indicator: str,
    setting: str,
    selected: tuple[str, ...],
    *meanings: str,
    gates: tuple[str, ...] = (),
) -> CardTemplate:
    return CardTemplate(service, kind, indicator, setting, selected, meanings, VERSION, gates)


# Hook calls shaped like the fixtures' answers: a recommendation, maybe a warning, maybe a data-needed card.
CALLS = [
    CallTemplate(
        "ramucirumab-afp-missing",
        (
            card(SELECT, "recommendation", "info", "after_sorafenib", ("ramucirumab",), gates=("afp_unknown",)),
            card(
                SELECT,
                "does-not-fit",
                "warning",
                "after_sorafenib",
                ("ramucirumab",),
                "replace-with:cabozantinib",
                "replace-with:regorafenib",
                gates=("afp_unknown",),
            ),
            card(
                SELECT, "data-needed", "info", "after_sorafenib", ("ramucirumab",), "order:afp", gates=("afp_unknown",)
            ),
        ),
        3,
    ),
    CallTemplate(
        "cabozantinib-after-sorafenib",
        (card(SELECT, "recommendation", "info", "after_sorafenib", ("cabozantinib",)),),
        3,
    ),
    CallTemplate(
        "regorafenib-intolerant",
        (
            card(
                SELECT,
                "recommendation",
                "info",
                "after_sorafenib",
                ("regorafenib",),
                gates=("afp_below_cutoff", "sorafenib_intolerance"),
            ),
            card(
                SELECT,
                "does-not-fit",
                "warning",
                "after_sorafenib",
                ("regorafenib",),
                "replace-with:cabozantinib",
                gates=("sorafenib_intolerance",),
            ),
        ),
        2,
    ),
    CallTemplate(
        "ramucirumab-after-atezo-sign",
        (
            card(
                SIGN,
                "does-not-fit",
                "warning",
                "after_atezolizumab_bevacizumab",
                ("ramucirumab",),
                gates=("after_bevacizumab",),
            ),
        ),
        1,
    ),
    CallTemplate(
        "nivolumab-child-pugh-b",
        (
            card(SELECT, "recommendation", "info", "beyond_second_line", ("nivolumab",), gates=("child_pugh_b",)),
            card(
                SELECT,
                "does-not-fit",
                "warning",
                "beyond_second_line",
                ("nivolumab",),
                "replace-with:cabozantinib",
                gates=("child_pugh_b",),
            ),
        ),
        1,
    ),
    CallTemplate("patient-view", (card(VIEW, "recommendation", "info", "after_lenvatinib", ()),), 1),
]


def fill(store: FeedbackStore, cards: int) -> tuple[int, int, float]:
    months = [date(2025 + (m // 12), m % 12 + 1, 1) for m in range(11, 23)]  # December 2025 to November 2026
    cards_per_call = sum(c.weight * len(c.cards) for c in CALLS) / sum(c.weight for c in CALLS)
    days = sum(len(weekdays(month)) for month in months)
    per_weekday = math.ceil(1.05 * cards / (cards_per_call * days))  # a little more, then cut at ``cards``
    rows = synthetic_rows(CALLS, months, seed=1, calls_per_weekday=(per_weekday, per_weekday))
    started = time.perf_counter()
    issued, feedback = write_rows(store.engine, itertools.islice(rows, cards))
    return issued, feedback, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an empty store to fill (default: a temporary SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite file")
    parser.add_argument("--reuse", action="store_true", help="time the report on the store as it is (filled before)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cds-report-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'store.sqlite3'}"
    store = FeedbackStore(url)
    try:
        migrate_scratch_store(store.engine)
        if store_is_empty(store.engine):
            issued, feedback, filling = fill(store, args.cards)
            name = store.engine.dialect.name
            print(f"Filled {name}: {issued:,} cards, {feedback:,} feedback reports in {filling:.1f} s")
        elif not args.reuse:
            sys.stderr.write("the store is not empty: give an empty scratch store (or --reuse a filled one)\n")
            return 2
        started, cpu_started = time.perf_counter(), time.process_time()
        threading.Thread(target=_warm_charts, daemon=True).start()  # as the command does
        report = build_report(store.engine, Period(), Labels(), generated_at=datetime.now(UTC))
        queried = time.perf_counter() - started
        html = render(report, "html")
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        store.close()
        if not args.keep and not args.database_url:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
    print(f"Python {platform.python_version()} on {platform.machine()}, {report['totals']['cards']} cards reported")
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"report data (5 queries + sums): {queried:.2f} s")
    print(f"report with HTML and charts:    {total:.2f} s ({len(html):,} bytes)  target < {TARGET_SECONDS:.0f} s")
    print(f"CPU time of this process (all threads): {cpu:.2f} s; load average {load} on {os.cpu_count()} cores")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
