"""/parallel, as a newcomer read it from screenshots (December 2026): each word they met before its meaning, and
each number or control whose meaning the page did not say. Every test fails on the page before that read."""
import pytest

from moeviz.parallel.demo import DEFAULT_LIMIT, EP_REPEATS
from tests.app.test_parallel_page import open_page


@pytest.fixture(scope="module")
def text():
    at = open_page({"capacity_factor": "1"})
    assert not at.exception
    return "\n".join(getattr(n, "value", "") for n in at.main if isinstance(getattr(n, "value", None), str))


def test_token_copies_are_defined_before_they_are_dropped(text):
    assert "Each token sends k **token copies**, one to each expert it chose" in text
    assert text.index("token copies**, one to each") < text.index("do not fit are dropped")
    assert "HF Mixtral" not in text and "Mixtral and OLMoE in Hugging Face transformers" in text


def test_the_layer_line_names_every_section_that_uses_it_and_says_d_hidden(text):
    assert "Sections 4, 5 and 6 use this layer too (d_hidden: the width inside each expert)" in text


def test_megatron_position_is_said_plainly(text):
    assert "skips the first step" not in text
    assert "does not put first choices first: its copies queue in token order alone" in text


def test_residual_path_and_shared_expert_are_linked(text):
    assert "[residual path](glossary#residual-path)" in text and "[shared expert](glossary#shared-expert)" in text


def test_section_2_says_its_capacity_factor_skew_repeats_and_processes(text):
    assert f"(capacity factor {DEFAULT_LIMIT:g} unless the sidebar or the router sets one)" in text
    assert "the tokens whose copies share one set of slots" in text
    assert "Wider than section 1's" not in text
    assert "Skew 0.9: 90% of the step's" in text and "the other 10% stay random" in text
    assert f"Each of the three steps runs {EP_REPEATS} times, taking turns" in text
    assert "apart from the page's one thread" in text


def test_section_3_defines_its_jargon_and_the_flat_compute_line(text):
    for words in ("[SwiGLU](glossary#feed-forward-mlp)", "1 TFLOP/s = 10¹²", "[bf16](glossary#bf16-and-fp32)",
                  "NVLink links the GPUs inside one", "400 Gb/s = 50 GB/s, at 8 bits a byte",
                  "The compute line stays flat as W grows", "The y-axis is logarithmic"):
        assert words in text, words


def test_sections_4_to_6_say_their_terms(text):
    for words in ("a grouped matrix product (MegaBlocks' way", "A dense FFN (feed-forward network",
                  "[expert choice](glossary#expert-choice) (each expert picks its tokens)",
                  "“output change” is the largest difference of one number", "one GPU stands in for one of "
                  "DeepSeek's nodes", "a per-expert bias is added only to choose the experts"):
        assert words in text, words
