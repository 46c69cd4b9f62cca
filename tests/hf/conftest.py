"""Tiny random checkpoints of every family, each built (and loaded) at most once per test session, on first use,
into a temp folder. Nothing downloads."""
import pytest

from moeviz.hf import load_checkpoint
from moeviz.hf.tiny import TINY, save_tiny_checkpoint


class _OnFirstUse(dict):
    """A dict that makes a missing value with `make(key)` the first time it is asked for."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        self[key] = self._make(key)
        return self[key]


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    seeds = {model_type: i for i, model_type in enumerate(TINY)}
    return _OnFirstUse(lambda t: save_tiny_checkpoint(t, root / t, seed=seeds[t]))


@pytest.fixture(scope="session")
def tiny_models(tiny_dirs):
    return _OnFirstUse(lambda t: load_checkpoint(tiny_dirs[t], device="cpu"))
