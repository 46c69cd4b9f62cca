"""Plain helpers behind the browser-test fixtures (no pytest here, so they can be reused and read alone).

- `StreamlitServer`: `streamlit run SCRIPT` on a free loopback port, in its own process group, log to a file.
- `launch_chromium`: Debian's /usr/bin/chromium through Playwright (no `playwright install` here).
- `collect_errors`: console errors + uncaught page errors, minus Streamlit's deep-link 404 probes.
- `wait_for_app`, `open_app`, `assert_no_exception`, `assert_no_console_errors`, `screenshot`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_PATH = "/usr/bin/chromium"
# --disable-background-networking & co: the machine has no internet, and Chromium's own calls home would
# otherwise be refused many times over (noise, and slow starts).
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 1000}
DEFAULT_TIMEOUT_MS = 60_000  # 2 shared cores: a cold page (model training, imports) can be slow


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`python -m streamlit run script` on 127.0.0.1:<free port>; use as a context manager.

    It runs in a new session (its own process group) so that stop() can end it and every child it made.
    """

    def __init__(self, script: str | Path, cwd: str | Path = REPO_ROOT, log_path: str | Path | None = None,
                 python: str | Path | None = None, startup_timeout: float = 60.0, append_log: bool = False):
        self.script, self.cwd = str(script), Path(cwd)
        self.log_path = Path(log_path or ARTIFACTS / "streamlit-server.log")
        venv_python = REPO_ROOT / ".venv" / "bin" / "python"
        self.python = str(python or (venv_python if venv_python.exists() else sys.executable))
        self.startup_timeout = startup_timeout
        self.log_mode = "ab" if append_log else "wb"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            self.python, "-m", "streamlit", "run", self.script,
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, self.log_mode)
        log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(self.command())} (cwd {self.cwd})\n".encode())
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command(), cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()  # the child holds its own copy
        self._wait_healthy()
        return self.url

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode} before answering; "
                                   f"see {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {self.startup_timeout:.0f} s; "
                           f"see {self.log_path}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after 10 s."""
        if self.proc is None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; make sure no child of it lingers in the group.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        self.proc = None

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def __enter__(self) -> "StreamlitServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright):
    """Debian's Chromium via Playwright's sync API (its bundled browsers cannot be downloaded here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)


# On a deep link (http://host/heatmap) the frontend first probes <page>/_stcore/health and
# <page>/_stcore/host-config to find the server's base path, then falls back to /; the first probes 404 and
# Chromium logs "Failed to load resource: ... 404 (Not Found)". They are Streamlit's, not the app's
# (docs/architecture.md, section 2), so they are ignored -- and nothing else is.
_PROBE = re.compile(r"^(?P<prefix>(?:/[^/]+)+)/_stcore/(?:health|host-config)$")


def is_streamlit_probe_404(text: str, resource_url: str, page_urls) -> bool:
    """True only for a 404 of <a path the page was at, or a parent>/_stcore/{health,host-config}, same origin.

    `page_urls`: the URL (str) or URLs the page's main frame has navigated to.
    """
    if not (text.startswith("Failed to load resource") and "404" in text):
        return False
    m = _PROBE.match(urlsplit(resource_url).path)
    if not m or m["prefix"].startswith("/_stcore"):
        return False
    origin = urlsplit(resource_url)[:2]
    for page_url in [page_urls] if isinstance(page_urls, str) else page_urls:
        pg = urlsplit(page_url)
        page_path = pg.path.rstrip("/")
        if pg[:2] == origin and (page_path == m["prefix"] or page_path.startswith(m["prefix"] + "/")):
            return True
    return False


def collect_errors(page) -> list[str]:
    """Attach listeners to `page`; return the (live) list of error strings they fill."""
    errors: list[str] = []
    visited: list[str] = []  # every document the page loaded: the probes are relative to it, even if
    # the frontend has rewritten the address since

    def on_request(req):
        if req.is_navigation_request() and req.frame == page.main_frame:
            visited.append(req.url)

    def on_console(msg):
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if is_streamlit_probe_404(msg.text, url, [*visited, page.url]):
            return
        errors.append(f"console.error: {msg.text} (at {url or '?'})")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


def wait_for_app(page, timeout_ms: int = DEFAULT_TIMEOUT_MS, settle_ms: int = 300, placeholders: bool = True) -> None:
    """Wait until the Streamlit app is connected and its script run has finished.

    Uses the attributes Streamlit 1.67 sets on `[data-testid="stApp"]` (`data-test-connection-state`,
    `data-test-script-state`), and that the running indicator `stStatusWidgetRunningIcon` is gone.
    After a click, a rerun starts a moment later: `settle_ms` first gives it time to begin, so we do not
    see the previous run's 'notRunning' and return too early. `placeholders=False` stops after the script state (no
    check of the running icon, the app's skeleton or widgets whose code is still loading): on a page whose fragment reruns every 0.25 s (a
    following student's) widget placeholders were seen staying 10 s and more on 2 cores.
    """
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           state="attached", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           state="attached", timeout=timeout_ms)
    if not placeholders:
        return
    page.wait_for_selector('[data-testid="stStatusWidgetRunningIcon"]', state="detached", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stAppSkeleton"]', state="detached", timeout=timeout_ms)
    # Widgets whose code is still loading show as placeholders; a busy machine makes that visible.
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=timeout_ms)


def open_sidebar_panel(page, title: str) -> None:
    """Expand the sidebar if it is collapsed, then open its expander `title` (a no-op when it is open)."""
    button = page.get_by_test_id("stExpandSidebarButton")
    if button.count() and button.is_visible():
        button.click()
        page.wait_for_timeout(300)
    expander = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(
        has=page.locator("summary", has_text=title)).first
    if expander.locator("details").first.get_attribute("open") is None:
        expander.locator("summary").first.click()
        page.wait_for_timeout(200)


def open_app(page, base_url: str, path: str = "/", timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
    """Go to base_url + path (e.g. "/heatmap?top_k=2") and wait for the script run to finish."""
    page.goto(base_url.rstrip("/") + "/" + path.lstrip("/"), wait_until="domcontentloaded", timeout=timeout_ms)
    wait_for_app(page, timeout_ms=timeout_ms)


def assert_no_exception(page) -> None:
    """Fail with the text of any `st.exception` / uncaught-script-error box on the page."""
    boxes = page.locator('[data-testid="stException"]')
    n = boxes.count()
    if n:
        texts = [boxes.nth(i).inner_text()[:2000] for i in range(n)]
        raise AssertionError(f"{n} Streamlit exception box(es) on {page.url}:\n" + "\n---\n".join(texts))


def assert_no_console_errors(page) -> None:
    errors = getattr(page, "console_errors", [])
    assert not errors, f"browser errors on {page.url}:\n" + "\n".join(errors)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:150] or "screenshot"


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save artifacts/screenshots/<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
