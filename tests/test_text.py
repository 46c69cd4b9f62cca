"""moeviz.text: tokens split as a reader would, vectors repeatable and word-specific."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moeviz.text import (DEFAULT_SENTENCE, MAX_TOKENS, POSITION_SCALE, embed_tokens, position_signal,
                         random_labels, random_vectors, split_tokens, token_vector)


def test_split_keeps_words_and_punctuation_in_order():
    assert split_tokens("Hello, world! Don't panic.") == ["Hello", ",", "world", "!", "Don't", "panic", "."]


def test_split_handles_empty_and_non_ascii_text():
    assert split_tokens("   ") == []
    assert split_tokens("Größe über alles") == ["Größe", "über", "alles"]


def test_split_caps_the_number_of_tokens():
    assert len(split_tokens("a " * (MAX_TOKENS + 10))) == MAX_TOKENS
    assert split_tokens("a b c", max_tokens=2) == ["a", "b"]


def test_default_sentence_is_short_and_ends_with_punctuation():
    tokens = split_tokens(DEFAULT_SENTENCE)
    assert 5 <= len(tokens) <= 16 and tokens[-1] == "."


def test_token_vector_is_repeatable_and_case_insensitive():
    torch.testing.assert_close(token_vector("cat", 16), token_vector("cat", 16))
    torch.testing.assert_close(token_vector("The", 16), token_vector("the", 16))
    assert not torch.allclose(token_vector("cat", 16), token_vector("dog", 16))
    assert not torch.allclose(token_vector("cat", 16, seed=0), token_vector("cat", 16, seed=1))


def test_position_signal_shape_and_range():
    signal = position_signal(7, 9)
    assert signal.shape == (7, 9)
    assert signal.abs().max() <= 1.0
    torch.testing.assert_close(signal[0, 0::2], torch.zeros(5))  # sin(0)
    torch.testing.assert_close(signal[0, 1::2], torch.ones(4))  # cos(0)


def test_embed_is_token_vector_plus_small_position_signal():
    tokens = ["the", "cat", "the"]
    x = embed_tokens(tokens, 8)
    expected = torch.stack([token_vector(t, 8) for t in tokens]) + POSITION_SCALE * position_signal(3, 8)
    torch.testing.assert_close(x, expected)
    # the same word at two places: close but not identical inputs
    assert 0 < (x[0] - x[2]).norm() <= 2 * POSITION_SCALE * 8 ** 0.5


def test_embed_of_no_tokens_is_empty():
    assert embed_tokens([], 4).shape == (0, 4)


def test_random_vectors_follow_their_seed():
    torch.testing.assert_close(random_vectors(3, 5, seed=2), random_vectors(3, 5, seed=2))
    assert not torch.allclose(random_vectors(3, 5, seed=2), random_vectors(3, 5, seed=3))
    assert random_labels(3) == ["v0", "v1", "v2"]


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_finite_vectors(text):
    tokens = split_tokens(text)
    x = embed_tokens(tokens, 6)
    assert x.shape == (len(tokens), 6) and torch.isfinite(x).all()
    assert all(token.strip() == token and token for token in tokens)


@pytest.mark.parametrize("value", [9.2e-9, 1e-8, 3.3e-7, 9.99e-6])
def test_rounding_sized_differences_are_said_as_matching_decimals(value):
    from moeviz.text import difference
    places = int(difference(value).split()[2])
    assert value < 10.0 ** -places <= 10 * value  # "match to n places": the difference is under 10^-n, tightly


def test_exact_and_large_differences_read_as_words_and_plain_decimals():
    from moeviz.text import ROUNDING_LIMIT, difference
    assert difference(0.0) == "exactly equal"
    for value in (ROUNDING_LIMIT, 0.0123, 0.5, 23.4):
        shown = difference(value)
        assert "e" not in shown and float(shown) == pytest.approx(value, rel=0.05)  # two significant digits
