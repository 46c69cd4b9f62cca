"""Fixtures for the language-model tests: the shipped tokenizer and a tiny, seeded, untrained model."""
import pytest

from moeviz.lm.model import LMConfig, TinyMoELM
from moeviz.lm.tokenizer import shipped_tokenizer

TINY = dict(context=16, d_model=16, n_layers=2, n_heads=2, d_hidden=16, num_experts=4, top_k=2, seed=3)


@pytest.fixture(scope="session")
def tokenizer():
    return shipped_tokenizer()


@pytest.fixture
def tiny_cfg(tokenizer):
    return LMConfig(vocab_size=tokenizer.get_vocab_size(), **TINY)


@pytest.fixture
def tiny_model(tiny_cfg):
    return TinyMoELM(tiny_cfg).eval()
