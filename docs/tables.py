"""The tables of docs/contract.md, made from the code's declarations.

    python docs/tables.py          # rewrite them in docs/contract.md
    python docs/tables.py --check  # exit 1 if they differ (tests/test_docs.py)

Each table sits between ``<!-- table NAME -->`` and ``<!-- end NAME -->``;
the prose around them is written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pyiplog.detect.tuning import Detection
from pyiplog.kinds import KINDS
from pyiplog.loader import OPTS
from pyiplog.messages import MESSAGES, PROCESS_MESSAGES
from pyiplog.options import SET_KEYWORDS, Options

CONTRACT = Path(__file__).resolve().parent / "contract.md"


def options() -> str:
    rows = ["| short | long | Options field | what it does |", "|---|---|---|---|"]
    for opt in OPTS:
        longs = " ".join(f"`--{name}`" for name in opt.long)
        short = f"`-{opt.short}`" if opt.short else ""
        rows.append(f"| {short} | {longs} | {opt.field or ''} | {opt.help} |")
    return "\n".join(rows)


def keywords() -> str:
    defaults = Options()
    words = [f"`{w}` ({'on' if getattr(defaults, w) else 'off'})" for w in SET_KEYWORDS]
    return ", ".join(words) + "."


def kinds() -> str:
    rows = [
        "| kind | line name | proto | switch | rule name | counted by | lines | what |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in KINDS.values():
        if k.stealth:
            counted = "2.2.3's table in both countings"
        elif k.classic:
            counted = "2.2.3's table (classic); the probe table (default)"
        else:
            counted = "the sweep table (default only)"
        what = k.doc + ("; sources may be forged" if k.forged else "")
        rows.append(
            f"| `{k.key}` | `{k.name}` | {k.proto} | `{k.switch}` | `{k.conf}` "
            f"| {counted} | {k.lines} | {what} |"
        )
    return "\n".join(rows)


def numbers() -> str:
    default, classic = Detection(), Detection(classic=True)
    old = dict(_pairs(classic.describe()))
    rows = ["| rule name | default counting | classic counting |", "|---|---|---|"]
    for name, value in _pairs(default.describe()):
        rows.append(f"| `{name}` | {value} | {old.get(name, 'not used')} |")
    return "\n".join(rows)


def messages() -> str:
    rows = ["| kind | plain form | log_dest form |", "|---|---|---|"]
    for kind, (plain, dest) in MESSAGES.items():
        rows.append(f"| `{kind}` | `{plain}` | {'same' if dest == plain else f'`{dest}`'} |")
    return "\n".join(rows)


def process() -> str:
    rows = ["| kind | text |", "|---|---|"]
    rows += [f"| `{kind}` | `{text}` |" for kind, text in PROCESS_MESSAGES.items()]
    return "\n".join(rows)


def _pairs(lines: list[str]) -> list[tuple[str, str]]:
    """``threshold X N`` / ``window X S`` lines -> (X, "threshold N, window S s")."""
    out: dict[str, list[str]] = {}
    for line in lines:
        word, name, value = line.split()
        out.setdefault(name, []).append(f"{word} {value}" + (" s" if word == "window" else ""))
    return [(name, ", ".join(parts)) for name, parts in out.items()]


TABLES = {
    "options": options,
    "keywords": keywords,
    "kinds": kinds,
    "numbers": numbers,
    "messages": messages,
    "process": process,
}


def rendered(text: str) -> str:
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- table {name} -->\n)(?:.*?\n)?(<!-- end {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{CONTRACT}: no table {name}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> None:
    text = CONTRACT.read_text()
    new = rendered(text)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if new == text else 1)
    CONTRACT.write_text(new)


if __name__ == "__main__":
    main()
