"""A small version of tests/load/loadtest.py in the suite: several concurrent sessions, each with its own
settings, all finish, and each sees exactly what a lone session with its settings sees (no cross-talk).
Speed and memory figures come from the full script (see the README), not from this test."""
import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
import loadtest  # noqa: E402
import pytest  # noqa: E402

pytestmark = pytest.mark.alone  # its own server and browsers: not beside other browser tests (pytest.ini)


def test_concurrent_sessions_see_their_own_results():
    args = argparse.Namespace(sessions=6, browsers=2, moves=2, rounds=1, start_timeout=300)
    # Its own thread: the load test runs an asyncio loop, and the sync Playwright fixtures own this thread's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(loadtest.measure, loadtest.ROOT / "app.py", loadtest.ROOT, "app", args).result()
    assert not result["failures"], result["failures"]
    assert result["finished"] == 6
    assert result["moves"] == 12
    assert not result["crosstalk"], result["crosstalk"]
    assert not result["errors"], result["errors"]
