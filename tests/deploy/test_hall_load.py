"""Load through the hall: 30 sessions moving the walkthrough's k slider, through nginx to three processes and,
in the same run, straight to one process. Light WebSocket clients (streamlit_client.Session) stand in for 30
browsers, which would swamp a 2-core machine. Records the p95 slider-to-update time of both as a ratio, how the
sessions spread, and each process's resident memory after every round (it must stay flat once warm).

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/deploy/test_hall_load.py -s   # prints the figures
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _hall import ROOT, Hall
from conftest import require_hall_packages
from streamlit_client import Session

pytestmark = [pytest.mark.slow, pytest.mark.timing]  # its p95 ratio must not share the cores

SESSIONS, ROUNDS, MOVES_PER_ROUND = 30, 3, 1  # ~1.5 min on 2 cores: the one process is the slow half
SETTINGS = [(n, s) for s in range(8) for n in (4, 8, 16, 32)]  # (num_experts, seed), as tests/load/loadtest.py
REPORT = ROOT / "artifacts" / "hall-load.json"


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[min(len(times) - 1, int(0.95 * len(times)))]


async def run_load(url: str, memory) -> dict:
    """Open SESSIONS sessions, then ROUNDS rounds in which every session moves k MOVES_PER_ROUND times."""
    sessions = [Session(url, f"/?num_experts={n}&top_k=2&seed={seed}", timeout_s=180)
                for n, seed in (SETTINGS[i % len(SETTINGS)] for i in range(SESSIONS))]
    started = time.perf_counter()
    await asyncio.gather(*(s.__aenter__() for s in sessions))
    result = {"open_s": time.perf_counter() - started, "times_ms": [], "rss_mb_open": memory(),
              "rss_mb_after_round": [], "wrong": 0}

    async def moves(session: Session) -> None:
        for _ in range(MOVES_PER_ROUND):
            k = 3 if session.shows("top-2 routing") else 2
            result["times_ms"].append(await session.set_slider("top_k", k))
            result["wrong"] += not session.shows(f"top-{k} routing")

    try:
        for _ in range(ROUNDS):
            await asyncio.gather(*(moves(s) for s in sessions))
            result["rss_mb_after_round"].append(memory())
    finally:
        await asyncio.gather(*(s.__aexit__() for s in sessions))
    result["processes"] = dict(Counter(s.process_id for s in sessions))
    return result


def summary(result: dict) -> dict:
    times = result.pop("times_ms")
    return {**result, "moves": len(times), "p50_ms": statistics.median(times), "p95_ms": p95(times)}


def test_thirty_sessions_through_the_hall_and_on_one_process():
    require_hall_packages()
    with ThreadPoolExecutor(max_workers=1) as pool:  # its own event loop, away from any test's
        with Hall(3) as hall:
            rss = lambda: {name: round(hall.rss_mb(name)) for name in hall.names()}  # noqa: E731
            through_hall = summary(pool.submit(asyncio.run, run_load(hall.url, rss)).result())
        with Hall(1) as one:
            rss_one = lambda: {"app-1": round(one.rss_mb("app-1"))}  # noqa: E731
            alone = summary(pool.submit(asyncio.run, run_load(f"http://127.0.0.1:{one.app_port}", rss_one)).result())
    report = {"sessions": SESSIONS, "rounds": ROUNDS, "moves_per_round": MOVES_PER_ROUND, "hall_3": through_hall,
              "one_process": alone, "p95_ratio_hall_over_one": through_hall["p95_ms"] / alone["p95_ms"]}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    for run in (through_hall, alone):
        assert run["moves"] == SESSIONS * ROUNDS * MOVES_PER_ROUND and run["wrong"] == 0, run
    assert set(through_hall["processes"]) == {"app-1", "app-2", "app-3"}, through_hall["processes"]
    assert report["p95_ratio_hall_over_one"] < 1.5, report  # three processes must not be slower than one
    for run in (through_hall, alone):  # warm after round 1: later rounds grow memory by little
        first, last = run["rss_mb_after_round"][1], run["rss_mb_after_round"][-1]
        for name in first:
            assert last[name] - first[name] < 0.05 * first[name] + 20, run["rss_mb_after_round"]
