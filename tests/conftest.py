"""Shared pytest set-up: tests run on the CPU with a fixed, small thread count for repeatable timing.

Under pytest-xdist (`-n 2`, as scripts/test.sh runs the quick tests) each worker gets one torch thread, so two
workers do not fight over a 2-core machine's cores; and every `browser` or `timing` test joins one xdist group, so
that with `--dist loadgroup` they run one after another on one worker (one Streamlit server, one Chromium, the
load tests not doubled up), while the other workers take the rest.
"""
import os

import pytest
import torch

os.environ.setdefault("MOEVIZ_DEVICE", "cpu")
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


@pytest.hookimpl(trylast=True)  # after tests/browser/conftest.py has marked its tests `browser`
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("browser") or item.get_closest_marker("timing"):
            item.add_marker(pytest.mark.xdist_group("serial"))
