"""Summarise a py-spy profile of ``benchmarks.profile_cold``: the share of hook-call samples per function.

    py-spy record -r 400 -f raw -o cold.txt -- python -m benchmarks.profile_cold --only cold --requests 4000
    python -m benchmarks.profile_summary cold.txt [--own] [--top 40]

Only the samples taken inside a hook call count (the stacks through ``profile_cold.call``); inclusive
share by default (the function or anything it calls), ``--own`` for the time in the function itself
(C calls it makes included, as py-spy reports them).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LOCATION = re.compile(r" \((?:.*?/site-packages/|.*?/(?=cds_service/|benchmarks/))?([^():]+)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``function (path:line)`` as ``function (path)`` with the virtual environment's prefix cut."""
    return _LOCATION.sub(lambda match: f" ({match.group(1)})", frame)


def summarise(path: Path, *, own: bool) -> tuple[int, Counter[str]]:
    """(samples inside hook calls, samples per function)."""
    shares: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        entry = next((i for i, f in enumerate(frames) if f.startswith("call (") and "profile_cold" in f), None)
        if entry is None or entry == len(frames) - 1:
            continue
        frames = frames[entry + 1 :]
        samples = int(count)
        total += samples
        if own:
            shares[frame_name(frames[-1])] += samples
        else:
            for name in dict.fromkeys(frame_name(frame) for frame in frames):
                shares[name] += samples
    return total, shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="py-spy raw (collapsed stacks) output")
    parser.add_argument("--own", action="store_true", help="time in the function itself, not what it calls")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    total, shares = summarise(args.profile, own=args.own)
    print(f"{total} samples inside hook calls\n\n| share | function (file) |\n|---|---|")
    for name, samples in shares.most_common(args.top):
        print(f"| {100 * samples / total:.1f}% | `{name}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
