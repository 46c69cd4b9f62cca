"""The README and docs/classroom.md say what the code does: counts and lists read from the code, not retyped."""
import re
from pathlib import Path

from moeviz.app.knobs import acting_words
from moeviz.app.nav import PAGES
from moeviz.config import DROP_POLICIES
from moeviz.glossary import ENTRIES
from moeviz.quiz import ALL_KINDS

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
CLASSROOM = (ROOT / "docs" / "classroom.md").read_text(encoding="utf-8")


def test_readme_counts_the_drop_policies():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{NUMBERS[len(DROP_POLICIES)]} drop policies" in readme
    assert not re.search(r"\b(two|four) drop policies", readme)


def test_classroom_counts_the_quiz_kinds():
    assert f"{NUMBERS[len(ALL_KINDS)].capitalize()} kinds of question" in CLASSROOM


def test_classroom_lists_every_glossary_entry():
    row = next(line for line in CLASSROOM.splitlines() if line.startswith("| `/glossary`"))
    for entry in ENTRIES:
        assert entry.term.lower() in row.lower(), entry.term


def test_classroom_knob_table_matches_the_declarations():
    for page in PAGES:
        for view, use in page.knobs.items():
            row = re.compile(rf"\| `{re.escape(page.url)}` \| {re.escape(view)}\b[^|]*\| {re.escape(acting_words(use.acting))} \|")
            assert row.search(CLASSROOM), (page.url, view)
