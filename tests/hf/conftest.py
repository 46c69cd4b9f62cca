"""Tiny random checkpoints of every family, built once per test session into a temp folder (nothing downloads)."""
import pytest

from moeviz.hf import load_checkpoint
from moeviz.hf.tiny import TINY, save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {model_type: save_tiny_checkpoint(model_type, root / model_type, seed=i)
            for i, model_type in enumerate(TINY)}


@pytest.fixture(scope="session")
def tiny_models(tiny_dirs):
    return {model_type: load_checkpoint(folder, device="cpu") for model_type, folder in tiny_dirs.items()}
