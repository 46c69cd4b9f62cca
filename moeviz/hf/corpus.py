"""The shipped model's training text: three clearly different kinds, all offline in a CPython install.

    docs = documents()        # [(kind, text)]: English prose, Python code, HTML markup
    s = split(docs)           # every VAL_EVERY-th document of each kind is validation

prose   the prose lines of the standard library's help topics (pydoc_data.topics; indented code examples and
        grammar rules left out)
python  the source of a fixed list of pure-Python standard-library modules
html    IDLE's HTML manual (idlelib/help.html), cut into pieces at line ends
Each kind is capped at MAX_CHARS_PER_KIND characters, taken in a fixed order, so the corpus is deterministic
for a given Python version (recorded with the model).
"""
from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

from moeviz.lm.corpus import CODE_INDENT, topics

KINDS = ("prose", "python", "html")
MAX_CHARS_PER_KIND = 250_000
VAL_EVERY = 10
HTML_PIECE_CHARS = 2_000
SEPARATOR = "<|endoftext|>"  # between documents, in the tokenizer's vocabulary
CODE_MODULES = ("textwrap", "string", "bisect", "heapq", "fractions", "statistics", "calendar", "difflib",
                "shlex", "csv", "queue", "glob", "fnmatch", "base64", "colorsys", "graphlib", "numbers",
                "operator", "pprint", "reprlib", "functools", "dataclasses", "contextlib", "enum", "abc",
                "argparse", "configparser", "gettext", "ipaddress", "json/decoder", "json/encoder")


@dataclass(frozen=True)
class KindSplit:
    train: dict[str, list[str]]  # kind -> training documents
    val: dict[str, list[str]]  # kind -> validation documents


def documents() -> list[tuple[str, str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return _capped("prose", _prose()) + _capped("python", _code(stdlib)) + _capped("html", _html(stdlib))


def split(docs: list[tuple[str, str]], val_every: int = VAL_EVERY) -> KindSplit:
    train = {k: [] for k in KINDS}
    val = {k: [] for k in KINDS}
    seen = {k: 0 for k in KINDS}
    for kind, text in docs:
        (val if seen[kind] % val_every == 0 else train)[kind].append(text)
        seen[kind] += 1
    return KindSplit(train, val)


def _prose() -> list[str]:
    docs = []
    for text in topics().values():
        lines = [line for line in text.splitlines() if not line.startswith(" " * CODE_INDENT)]
        prose = "\n".join(lines).strip()
        if prose:
            docs.append(prose)
    return docs


def _code(stdlib: Path) -> list[str]:
    docs = []
    for name in CODE_MODULES:
        path = stdlib / f"{name}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: this Python install lacks part of the standard library.")
        docs.append(path.read_text(encoding="utf-8"))
    return docs


def _html(stdlib: Path) -> list[str]:
    path = stdlib / "idlelib" / "help.html"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install IDLE (Debian: idle-python3.x) to rebuild the corpus.")
    pieces, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        current.append(line)
        if sum(map(len, current)) >= HTML_PIECE_CHARS:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return pieces


def _capped(kind: str, docs: list[str]) -> list[tuple[str, str]]:
    out, total = [], 0
    for text in docs:
        if total >= MAX_CHARS_PER_KIND:
            break
        text = text[:MAX_CHARS_PER_KIND - total]
        out.append((kind, text))
        total += len(text)
    return out
