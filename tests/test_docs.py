"""The contract is in the project (docs/): every id the code cites exists,
every option, ``set`` keyword and kind the code declares is described,
and the generated tables match the code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from pyiplog.kinds import KINDS
from pyiplog.loader import OPTS
from pyiplog.options import SET_KEYWORDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Section ids: "### D3. ...", "## W1. ...", "- **F1.** ...".
SECTION = re.compile(r"^(?:#{2,4} |- \*\*)([A-Z]\d{1,2})\.", re.M)
# Anything that reads as an id, however it is written ("spec A5", "(C6)", "# A4:").
CITED = re.compile(r"\b([A-Z]\d{1,2})\b")
# Tokens of that shape that are not citations: placeholders in message
# texts (" [ports P1,P2,...,P10]", "H1,H2") and nmap's timing option (-T1).
NOT_IDS = {"P10", "H1", "H2", "T1"}


def sections() -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sorted(DOCS.glob("*.md")):
        for match in SECTION.finditer(page.read_text()):
            assert match.group(1) not in found, f"{match.group(1)} twice in docs/"
            found[match.group(1)] = page.name
    return found


def sources() -> list[Path]:
    return sorted((ROOT / "pyiplog").rglob("*.py"))


def all_code() -> list[Path]:
    """The package, its tests (this file's examples aside) and benchmarks."""
    others = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "bench").glob("*.py"))
    return sources() + [p for p in others if p.name != "test_docs.py"]


def test_every_cited_id_is_a_section_of_docs():
    known = sections()
    missing = []
    for path in sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for cited in CITED.findall(line):
                if cited not in known and cited not in NOT_IDS:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {cited}")
    assert missing == []


def test_every_id_a_tests_comment_cites_is_a_section_of_docs():
    """The letters of the docs' ids and of the outside spec's (A, B) only:
    tests name nmap's probes T1-T7 and the time T0 in their comments."""
    known = sections()
    letters = {cited[0] for cited in known} | {"A", "B"}
    missing = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name == "test_docs.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            comment = line.split("#", 1)[1] if "#" in line else ""
            for cited in CITED.findall(comment):
                if cited[0] in letters and cited not in known:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {cited}")
    assert missing == []


def test_the_checker_sees_a_missing_id():
    assert "Z9" not in sections()
    assert CITED.findall("# spec A5: see (C6) and Z9.") == ["A5", "C6", "Z9"]


def test_citations_name_the_docs_file_and_never_an_issue_or_the_outside_spec():
    known = sections()
    wrong = []
    for path in all_code():
        text = path.read_text()
        wrong += [
            f"{path.name}: {m}" for m in re.findall(r"\b[Ss]pec\s+[A-Z]\d+|\bissues?\s+\d+", text)
        ]
        for page, cited in re.findall(r"docs/(\w+\.md)\s+([A-Z]\d{1,2})", text):
            if known.get(cited) != page:
                wrong.append(f"{path.name}: docs/{page} {cited}")
    assert wrong == []


def test_every_option_keyword_and_kind_is_described():
    text = "\n".join(page.read_text() for page in DOCS.glob("*.md"))
    missing = [f"--{name}" for opt in OPTS for name in opt.long if f"`--{name}`" not in text]
    missing += [f"set {word}" for word in SET_KEYWORDS if f"`{word}`" not in text]
    missing += [f"kind {key}" for key in KINDS if f"`{key}`" not in text]
    missing += [f"rule name {k.conf}" for k in KINDS.values() if f"`{k.conf}`" not in text]
    assert missing == []


def test_the_generated_tables_match_the_code():
    spec = importlib.util.spec_from_file_location("tables", DOCS / "tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    text = tables.CONTRACT.read_text()
    assert tables.rendered(text) == text, "run: python docs/tables.py"
