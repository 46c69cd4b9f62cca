"""Many students at once: concurrent real Chromium sessions against one `streamlit run app.py`.

Each session opens the walkthrough with its own settings in the link, then moves the sidebar's k slider a few
times. We record, per move, the time from the key press until the page shows the new k with the script idle
(measured inside the page with performance.now()), and the time from opening the link until the page is fully
drawn (the *start*: on a starved 2-core machine mostly the browser loading Streamlit's and Plotly's JavaScript). We check
that every session shows the answer that a lone session with the same settings shows (no cross-talk through caches
or globals), and read the server's peak memory (VmHWM) and its resident memory after each round (bounded growth).
A failed session leaves a screenshot and the page's state in the report (`failed_pages`). The same load then
runs against a near-blank page with the same sidebar, the baseline that says what Streamlit and this 2-core
machine cost on their own.

    .venv/bin/python tests/load/loadtest.py --sessions 20 --browsers 4 --moves 4 --rounds 2 --out artifacts/load.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from _harness import CHROMIUM_ARGS, CHROMIUM_PATH, StreamlitServer  # noqa: E402

BASELINE_PAGE = '''"""Near-blank page with the app's shared sidebar: the load test's baseline."""
import streamlit as st

import moeviz.app as app

controls = app.sidebar("baseline")
st.markdown("**Which experts actually run for this token, and with what weight?**")
st.markdown(f"baseline: N={controls.num_experts}, k={controls.top_k}, seed={controls.seed}")
'''
SETTINGS = [(n, s) for s in range(8) for n in (4, 8, 16, 32)]  # (num_experts, seed) per session
ANSWER_JS = """() => {
  const texts = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdown"]')]
      .map(e => e.innerText);
  const i = texts.findIndex(t => t.includes('Which experts actually run'));
  return i >= 0 && i + 1 < texts.length ? texts[i + 1] : null;
}"""
SHOWS_K_JS = """([marker]) => {  // the rerun is done: script idle and the page shows the new k
  const app = document.querySelector('[data-testid="stApp"]');
  const main = document.querySelector('[data-testid="stMain"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning' && main
      && main.innerText.includes(marker);
}"""
# What each page prints for k (the app's caption; the baseline's line). Waiting for the page to *show* the new k
# is robust where watching the running state is not: React may batch a fast run's running -> notRunning away.
K_MARKERS = {"app": "top-{k} routing", "baseline": "k={k}"}


def server_memory_mb(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0]) / 1024
    return {"peak_mb": fields.get("VmHWM"), "rss_mb": fields.get("VmRSS")}


async def wait_idle(page, timeout_ms: int = 120_000) -> None:
    await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached",
                                 timeout=timeout_ms)
    await page.wait_for_selector('[data-testid="stAppSkeleton"]', state="detached", timeout=timeout_ms)
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')",
                                 timeout=timeout_ms)


START_TIMEOUT_MS = 300_000  # a session start = page load + the browser parsing Streamlit's and Plotly's JS


async def open_session(context, base: str, n: int, seed: int, k: int, timeout_ms: int = START_TIMEOUT_MS):
    """Open the page with these settings; returns (page, errors, ms from navigation to a fully drawn page)."""
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    started = time.perf_counter()
    await page.goto(f"{base}/?num_experts={n}&top_k={k}&seed={seed}", wait_until="domcontentloaded",
                    timeout=timeout_ms)
    await page.wait_for_timeout(300)
    await wait_idle(page, timeout_ms)
    return page, errors, (time.perf_counter() - started) * 1e3


async def move_k(page, direction: str, marker: str) -> float:
    """Press an arrow key on the k slider; return ms until the page shows the rerun's result."""
    await page.evaluate("() => { window.__t0 = performance.now(); }")
    await page.locator('.st-key-top_k input[type="range"]').press(direction)
    await page.wait_for_function(SHOWS_K_JS, arg=[marker], timeout=180_000)
    elapsed = await page.evaluate("() => performance.now() - window.__t0")
    await wait_idle(page)
    return float(elapsed)


async def one_session(browser, base: str, index: int, moves: int, reference: dict | None, out: dict,
                      label: str, start_timeout_ms: int = START_TIMEOUT_MS) -> None:
    n, seed = SETTINGS[index % len(SETTINGS)]
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page, errors, start_ms = await open_session(context, base, n, seed, 2, start_timeout_ms)
        out["start_times"].append(start_ms)
        k = 2
        for m in range(moves):
            direction = "ArrowRight" if m % 2 == 0 else "ArrowLeft"
            k += 1 if direction == "ArrowRight" else -1
            out["times"].append(await move_k(page, direction, K_MARKERS[label].format(k=k)))
            shown = await page.evaluate(ANSWER_JS)
            if reference is not None and shown != reference.get((n, seed, k)):
                out["crosstalk"].append({"session": index, "settings": [n, seed, k], "shown": shown,
                                         "expected": reference.get((n, seed, k))})
        out["errors"].extend(errors)
        out["finished"] += 1
    except Exception as exc:  # a failed session is a finding, not a crash of the whole test
        out["failures"].append(f"session {index}: {type(exc).__name__}: {exc}"[:500])
        out["failed_pages"].append(await _failure_state(context, label, index))
    finally:
        await context.close()


async def _failure_state(context, label: str, index: int) -> dict:
    """What a failed session's page looked like: a screenshot and the app's state, for the report."""
    state = {"session": index}
    for page in context.pages:
        try:
            state.update(await page.evaluate("""() => ({
                script: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
                connection: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-connection-state'),
                skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
                app_skeleton: !!document.querySelector('[data-testid="stAppSkeleton"]'),
                charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
                text: (document.querySelector('[data-testid="stMain"]')?.innerText || '').slice(0, 300),
            })"""))
            path = ROOT / "artifacts" / f"load-failure-{label}-{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(path), timeout=30_000)
            state["screenshot"] = str(path.relative_to(ROOT))
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the failure itself
            state["diagnostics_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return state


async def reference_answers(browser, base: str, sessions: int, moves: int) -> dict:
    """What a lone session shows for each (N, seed, k) the load will visit."""
    answers = {}
    context = await browser.new_context()
    for n, seed in {SETTINGS[i % len(SETTINGS)] for i in range(sessions)}:
        for k in sorted({2, 3} if moves else {2}):
            page, _, _ = await open_session(context, base, n, seed, k)
            answers[(n, seed, k)] = await page.evaluate(ANSWER_JS)
            await page.close()
    await context.close()
    return answers


async def run_load(base: str, pid: int, sessions: int, browsers: int, moves: int, rounds: int,
                   label: str, start_timeout_ms: int = START_TIMEOUT_MS) -> dict:
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        launched = [await p.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
                    for _ in range(browsers)]
        reference = await reference_answers(launched[0], base, sessions, moves) if label == "app" else None
        result = {"times": [], "start_times": [], "crosstalk": [], "errors": [], "failures": [], "failed_pages": [],
                  "finished": 0, "rss_after_round": []}
        start = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one_session(launched[i % browsers], base, i, moves, reference, result, label,
                                               start_timeout_ms)
                                   for i in range(sessions)))
            result["rss_after_round"].append(server_memory_mb(pid)["rss_mb"])
        result["wall_s"] = time.perf_counter() - start
        for b in launched:
            await b.close()
    times = sorted(result["times"])
    result.update(server_memory_mb(pid))
    result["moves"] = len(times)
    if times:
        result["p50_ms"] = statistics.median(times)
        result["p95_ms"] = times[min(len(times) - 1, int(0.95 * len(times)))]
    starts = sorted(result.pop("start_times"))
    if starts:
        result["start_p50_ms"] = statistics.median(starts)
        result["start_p95_ms"] = starts[min(len(starts) - 1, int(0.95 * len(starts)))]
        result["start_max_ms"] = starts[-1]
    del result["times"]
    return result


def baseline_dir() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="moeviz-baseline-"))
    (tmp / "baseline.py").write_text(BASELINE_PAGE)
    shutil.copytree(ROOT / ".streamlit", tmp / ".streamlit")
    return tmp


def measure(script: Path, cwd: Path, label: str, args) -> dict:
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    log = ROOT / "artifacts" / f"load-{label}-server.log"
    with StreamlitServer(script, cwd=cwd, log_path=log, startup_timeout=120) as server:
        print(f"[{label}] {args.sessions} sessions x {args.rounds} rounds on {server.url} ...", flush=True)
        result = asyncio.run(run_load(server.url, server.proc.pid, args.sessions, args.browsers, args.moves,
                                      args.rounds, label, int(args.start_timeout * 1000)))
    print(f"[{label}] p50 {result.get('p50_ms', float('nan')):.0f} ms, p95 {result.get('p95_ms', float('nan')):.0f}"
          f" ms; page start p50 {result.get('start_p50_ms', float('nan')) / 1e3:.0f} s, p95 "
          f"{result.get('start_p95_ms', float('nan')) / 1e3:.0f} s, "
          f"max {result.get('start_max_ms', float('nan')) / 1e3:.0f} s;"
          f" {result['finished']}/{args.sessions * args.rounds} sessions finished, server peak "
          f"{result['peak_mb']:.0f} MB, rss after rounds {result['rss_after_round']}", flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--browsers", type=int, default=4, help="Chromium processes; sessions share them")
    parser.add_argument("--moves", type=int, default=4, help="k-slider moves per session")
    parser.add_argument("--rounds", type=int, default=2, help="repeat the whole load to see memory settle")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "load.json"))
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_MS / 1000,
                        help="seconds a session may take to open and draw the page before it counts as failed")
    parser.add_argument("--app-only", action="store_true", help="skip the baseline (a quick look, no ratio)")
    args = parser.parse_args(argv)
    report = {"args": vars(args), "cpu_count": os.cpu_count()}
    report["app"] = measure(ROOT / "app.py", ROOT, "app", args)
    if args.app_only:
        print(json.dumps(report["app"], indent=2))
        return 0 if report["app"]["finished"] == args.sessions * args.rounds else 1
    tmp = baseline_dir()
    try:
        report["baseline"] = measure(tmp / "baseline.py", tmp, "baseline", args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if "p95_ms" not in report["app"] or "p95_ms" not in report["baseline"]:
        print("no moves were timed:", report["app"]["failures"][:3], report["baseline"]["failures"][:3])
        return 1
    report["p95_ratio"] = report["app"]["p95_ms"] / report["baseline"]["p95_ms"]
    print(f"app p95 / baseline p95 = {report['p95_ratio']:.2f} (target <= 2)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
