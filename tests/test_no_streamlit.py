"""The moeviz core must not import streamlit (only moeviz.app may): checked in a fresh interpreter."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import moeviz

ROOT = Path(__file__).resolve().parents[1]


def core_modules():
    names = ["moeviz"]
    for info in pkgutil.walk_packages(moeviz.__path__, "moeviz."):
        if not info.name.startswith("moeviz.app"):
            names.append(info.name)
    return names


def test_core_modules_do_not_import_streamlit():
    modules = [m for m in core_modules() if not m.endswith("__main__")]
    assert "moeviz.layer" in modules
    code = ("import sys, importlib\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.')]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
