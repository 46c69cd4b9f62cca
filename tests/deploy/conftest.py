"""Tests of deploy/: the Kubernetes manifests and nginx configuration (quick), and a real hall on loopback ports
(slow: `bash deploy/hall.sh up 3`, nginx, Redis, Streamlit processes; some drive Chromium, marked `browser`).

Without nginx or redis-server (`apt-get install -y nginx redis-server`; scripts/test.sh installs them) the hall
tests skip, except with CI=true, where they fail.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "browser"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import _harness as h  # noqa: E402

NEEDS = {"/usr/sbin/nginx": "nginx", "/usr/bin/redis-server": "redis-server"}


def require_hall_packages() -> None:
    missing = [pkg for path, pkg in NEEDS.items() if not Path(path).exists()]
    if missing:
        msg = f"missing {' '.join(missing)} (apt-get install -y {' '.join(missing)})"
        if h.in_ci():
            pytest.fail(msg + ": the hall tests must run in CI")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def hall_browser():
    """Debian's Chromium through Playwright (tests/browser/_harness.py), for the hall tests that need a page.
    Module-scoped: Playwright's sync API allows one instance per thread at a time, and tests/browser starts its
    own (session-scoped) after these modules have run."""
    if not Path(h.CHROMIUM_PATH).exists():
        if h.in_ci():
            pytest.fail(f"{h.CHROMIUM_PATH} is missing: browser tests must run in CI")
        pytest.skip(f"{h.CHROMIUM_PATH} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = h.launch_chromium(p)
        yield browser
        browser.close()
