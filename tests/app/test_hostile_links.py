"""Hostile and odd URL parameters on every page: a clear message and a safe default, never a traceback,
and nothing a visitor typed is ever rendered as HTML.

Pages are discovered on disk, so a new page is covered the day it lands.
"""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.pages import open_page

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py"] + sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))
KEYS = ("num_experts", "top_k", "router", "balance_weight", "capacity_factor", "seed", "step", "token", "text",
        "present")
# Every page-local link value, found where the app reads it (`url_value("key", ...)` or `linked(..., key="key")`),
# so a new knob is covered too.
READERS = (r'url_value\(\s*"(\w+)"', r'linked\((?:[^()]|\([^()]*\))*?key="(\w+)"')
LOCAL_KEYS = tuple(sorted({key for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("moeviz/app/*.py")]
                           for reader in READERS for key in re.findall(reader, path.read_text(encoding="utf-8"))}
                          - set(KEYS) - {"hide", "lock"})) + ("hide", "lock")
HOSTILE = {
    "empty": "",
    "whitespace": "   \t ",
    "emoji-combining": "😀\u0301\u0302🧪",
    "rtl": "שלום עולם مرحبا",
    "control": "\x00\x07\x1b[31m\r\n",
    "script": "<script>alert('x')</script>",
    "html-md": "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))",
    "negative": "-5",
    "nan": "nan",
    "inf": "inf",
    "float": "2.5",
    "overflow": "1e309",
}
MARKERS = ("<script>alert('x')</script>", "<img src=x onerror=alert(1)>")


def run_page(page: str, params: dict) -> AppTest:
    return open_page(page, params, timeout=60)


def assert_safe(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for md in at.markdown:
        if md.allow_html:
            assert not any(m in md.value for m in MARKERS), md.value[:300]
    for block in at.get("html"):
        assert not any(m in block.proto.body for m in MARKERS)


def test_local_keys_are_found():
    assert {"workers", "skew", "train_steps", "quiz_kinds", "bias_steps", "drop_policy", "batch", "hardware",
            "z_loss_weight"} <= set(LOCAL_KEYS)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_value_in_every_parameter(page, name):
    at = run_page(page, {key: HOSTILE[name] for key in KEYS + LOCAL_KEYS})
    assert_safe(at)
    if name not in ("empty", "whitespace"):
        assert at.warning, f"{page}: no warning for {name!r} values in the link"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("keys", [KEYS[:5], KEYS[5:]], ids=["shared", "page"])
def test_100k_character_values(page, keys):
    # Five at a time: Streamlit itself ignores a whole query string over 524,288 characters.
    at = run_page(page, {key: "9" * 100_000 for key in keys})
    assert_safe(at)
    assert at.warning


@pytest.mark.parametrize("page", PAGES)
def test_100k_character_page_values(page):
    for start in range(0, len(LOCAL_KEYS), 5):  # five at a time, as above
        assert_safe(run_page(page, {key: "9" * 100_000 for key in LOCAL_KEYS[start:start + 5]}))


@pytest.mark.parametrize("page", PAGES)
def test_repeated_and_out_of_range_parameters(page):
    at = run_page(page, {"top_k": ["2", "9"], "num_experts": ["8", "4"], "seed": "-1", "step": "99",
                         "token": "-3", "router": ["switch", "bogus"], "capacity_factor": "0"})
    assert_safe(at)
    assert at.warning


@pytest.mark.parametrize("page", PAGES)
def test_k_larger_than_experts_falls_back(page):
    at = run_page(page, {"num_experts": "4", "top_k": "8"})
    assert_safe(at)
    assert any("top_k" in w.value or "k" in w.value for w in at.warning)
    top_k = [s for s in at.slider if s.key == "top_k"] + [s for s in at.select_slider if s.key == "top_k"]
    assert top_k and int(top_k[0].value) <= 4
