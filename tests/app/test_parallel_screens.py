"""/parallel as a second newcomer read it from screenshots (c00..c04): each test names what confused them before."""
import re

import pytest

from moeviz.glossary import TERMS, anchor
from tests.app.test_parallel_page import open_page


@pytest.fixture(scope="module")
def page():
    at = open_page()
    assert not at.exception
    return at


def _texts(at) -> list[str]:
    """Every text element of the main area, in page order."""
    return [getattr(node, "value", "") for node in at.main if isinstance(getattr(node, "value", None), str)]


def _section(at, number: int) -> str:
    """The text of section `number`, from its header to the next."""
    texts, out, inside = _texts(at), [], False
    for node, text in zip([n for n in at.main if isinstance(getattr(n, "value", None), str)], texts):
        if type(node).__name__ == "Header":
            inside = text.startswith(f"{number} ·")
            continue
        if inside:
            out.append(text)
    return "\n".join(out)


def _links_land(text: str) -> None:
    assert set(re.findall(r"\(glossary#([a-z0-9-]+)\)", text)) <= {anchor(t) for t in TERMS}


def test_copies_are_introduced_before_they_are_counted_and_hf_is_spelled_out(page):
    """Before: "the copies that do not fit are dropped" was the page's first "copy", and "HF Mixtral" unexplained."""
    intro = _section(page, 1).split("\n")[0]
    assert "Each token sends k **copies** of itself, one to each of its k chosen experts" in intro
    assert intro.index("k **copies**") < intro.index("copies that do not fit")
    assert "Hugging Face transformers' Mixtral" in intro and "HF " not in intro


def test_the_layer_line_says_d_hidden_and_every_section_that_reuses_it(page):
    """Before: "d_hidden 64" stood unexplained, and the line said "Sections 4 and 5 use this layer too" though
    section 6 uses it as well."""
    from moeviz.app.layer_line import PREFIX, WORDS
    line = next(c for c in page.caption if c.value.startswith(PREFIX))
    assert "= 64 is the width inside each expert, an [MLP](glossary#feed-forward-mlp) of 2 weight matrices" in line.value
    assert "(glossary#d-model-and-d-hidden)" in line.value
    assert "Sections 4, 5 and 6 use this layer too" in line.value and "Sections 4 and 5 use" not in line.value
    assert line.proto.help == WORDS  # the tooltip still says every word of the line
    assert "Section 1's layer" in _section(page, 6)  # the claim is true: section 6 says it uses it


def test_megatron_position_rule_is_said_plainly():
    """Before: "Megatron-Core's “position” drop policy skips the first step", which a reader could not decode."""
    at = open_page({"capacity_factor": "1"})
    said = next(m.value for m in at.markdown if "Copies queue for slots" in m.value)
    assert "skips the first step" not in said
    assert "it does not put first choices first, it queues every copy in token order alone" in said


def test_residual_path_and_shared_expert_are_linked_at_the_end_of_section_1():
    """Before: "residual path" and "shared expert" with no word on what they are."""
    at = open_page({"capacity_factor": "1"})
    said = next(m.value for m in at.markdown if "Copies queue for slots" in m.value)
    assert "[residual path](glossary#residual-path)" in said and "[shared expert](glossary#shared-expert)" in said
    _links_land(said)


def test_section_2_defines_capacity_group_and_says_why_its_layer_is_larger(page):
    """Before: "capacity group" undefined; "Wider than section 1's (each GPU needs enough arithmetic to time)"."""
    text = _section(page, 2)
    assert "**capacity group** (as in GShard): the set of tokens whose copies share one set of C slots" in text
    assert "Wider than section 1's" not in text and "enough arithmetic to time" not in text
    assert "takes long enough to measure above the timer's noise" in text


@pytest.mark.parametrize("params, cf", [({}, "1"), ({"capacity_factor": "1.5"}, "1.5")])
def test_section_2_says_the_capacity_factor_of_its_third_step(params, cf):
    """Before: the sidebar's factor is off by default, and the text never said which cf the third step uses."""
    from moeviz.parallel.demo import DEFAULT_LIMIT
    assert DEFAULT_LIMIT == 1.0
    at = open_page(params)
    said = next(m.value for m in at.markdown if m.value.startswith("Expert parallelism: each of W GPUs"))
    assert f"**under a capacity limit**, with capacity factor cf = {cf} (" in said


def test_the_skew_value_is_said_exactly(page):
    """Before: "Skew: share of tokens pushed toward GPU 0's experts" and 0.9 with no word on what it does."""
    from moeviz.config import MoEConfig
    from moeviz.layer import MoELayer
    from moeviz.parallel.demo import EP_TOKENS
    from moeviz.parallel.workload import skewed_tokens
    said = next(c.value for c in page.caption if c.value.startswith("Skew 0.9:"))
    pushed = round(0.9 * EP_TOKENS)
    assert f"{pushed:,} of the step's {EP_TOKENS:,} tokens (90%), picked at random" in said
    assert "a second vector added to it, 4 times as long as the token itself" in said
    # the count is what the workload moves: the other tokens are the plain seeded draw
    layer = MoELayer(MoEConfig(d_model=16, d_hidden=32, num_experts=4, top_k=2, device="cpu"))
    plain, skewed = skewed_tokens(layer, 100, 0.0, 1, 2), skewed_tokens(layer, 100, 0.9, 1, 2)
    assert int((plain != skewed).any(dim=1).sum()) == 90


def test_the_skew_is_shown_as_copies_per_gpu_before_the_run(page):
    """Before: the skew was "nudged along the router weights" and section 2 showed nothing until its button. Now the
    page routes the step's tokens at once and says how many copies each GPU gets, read from the same routing."""
    from moeviz.config import MoEConfig
    from moeviz.parallel.demo import (DEFAULT_SKEW, DEFAULT_WORKERS, EP_D_HIDDEN, EP_D_MODEL, EP_SEED, EP_TOKENS,
                                      copies_per_worker)
    said = next(m.value for m in page.markdown if m.value.startswith("**What the skew does to the load**"))
    cfg = MoEConfig(d_model=EP_D_MODEL, d_hidden=EP_D_HIDDEN, num_experts=8, top_k=2, seed=EP_SEED, device="cpu")
    skewed = copies_per_worker(cfg, EP_TOKENS, DEFAULT_SKEW, DEFAULT_WORKERS)
    assert ", ".join(f"{c:,}" for c in skewed) + f" at skew {DEFAULT_SKEW:g}" in said
    assert "an even share is 1,024 each" in said and "the other GPUs wait for it" in said
    assert "before any timing" in said


def test_the_button_caption_says_what_the_21_steps_are(page):
    """Before: "It shows the three steps' times" beside "21 steps of 2,048 tokens", unreconciled."""
    from moeviz.parallel.demo import EP_REPEATS, EP_TOKENS
    said = next(c.value for c in page.caption if c.value.startswith("Press the button"))
    assert "three steps' times" not in said
    assert (f"Each case runs {EP_REPEATS} times, the three taking turns, so {3 * EP_REPEATS} steps of "
            f"{EP_TOKENS:,} tokens in all; the time shown for a case is the median of its {EP_REPEATS}") in said


def test_section_2_says_the_demo_starts_its_own_processes(page):
    """Before: the sidebar's "Running on CPU (1 thread)" beside "the 4 worker processes" with no word on how."""
    text = _section(page, 2)
    assert "The demo starts its own worker processes, one per simulated GPU, apart from the page itself" in text


def test_section_3_defines_its_hardware_words(page):
    """Before: SwiGLU, bf16, TFLOP/s, NVLink, InfiniBand and "rated 400 Gb/s" beside "50 GB/s", all unexplained."""
    text = _section(page, 3)
    assert "[SwiGLU](glossary#feed-forward-mlp)" in text and "[bf16](glossary#bf16-and-fp32)" in text
    assert "1 TFLOP/s = 10¹² of them" in text
    assert "NVLink: NVIDIA's direct links between the GPUs inside one node" in text
    assert "InfiniBand: the network between nodes" in text
    assert "8 bits make 1 byte, so 400 Gb/s = 50 GB/s" in text
    _links_land(text)
    at = open_page({"hardware": "cpu-ethernet"})
    assert "8 bits make 1 byte, so 10 Gb/s = 1.25 GB/s" in _section(at, 3)


def test_section_3_chart_caption_says_why_compute_is_flat_and_the_axes_are_log(page):
    """Before: the compute line stayed flat from 2 to 256 GPUs with no word why, on unlabelled log axes."""
    from moeviz.parallel.model import MODEL_SHAPES, model_curve
    curve = model_curve(next(s for s in MODEL_SHAPES if s.startswith("DeepSeek-V3")), "h100-nvlink-ib")
    assert len({round(r["compute_s"], 12) for r in curve}) == 1  # flat indeed
    nodes = list(page.main)
    chart = next(i for i, n in enumerate(nodes) if getattr(n, "type", None) == "plotly_chart" and
                 "MODEL (not a measurement)" in n.proto.spec)
    said = next(n.value for n in nodes[chart:] if type(n).__name__ == "Caption")
    assert said.startswith("Both axes are logarithmic")
    assert "each GPU keeps T_dev = 4,096 tokens whatever W is" in said and "does not shrink as W grows" in said


def test_section_4_says_what_grouped_products_and_the_largest_change_are():
    """Before: "grouped matrix products (MegaBlocks-style)" and "largest change 0.29" with no unit or meaning."""
    from moeviz.app.parallel_page import dropless_sentence
    from moeviz.parallel.dropless import DroplessVsCapacity
    both = DroplessVsCapacity(32, 64, 1.0, 8, [13, 9, 8, 8, 7, 7, 6, 6], [8, 8, 8, 8, 7, 7, 6, 6], 5, 1, 4, 0.29)
    said = dropless_sentence(both)
    assert "MegaBlocks-style" not in said
    assert "computes every expert on its own rows in one grouped call" in said
    assert ("largest change 0.29: the largest difference, in any one number of a token's output vector, between "
            "the dropless run and this one") in said


def test_section_4_says_why_it_has_its_own_capacity_factor(page):
    """Before: two capacity controls (the sidebar's and section 4's) and no plain word on which acts where."""
    text = _section(page, 4)
    assert "This section has its own capacity factor (the slider below)" in text
    assert "the sidebar's capacity factor does not act here" in text


def test_section_5_defines_its_routings_and_ffn(page):
    """Before: "expert choice", "dropless token choice" and "dense FFN" undefined."""
    said = next(c.value for c in page.caption if c.value.startswith("Each token of section 1's batch"))
    assert "dense FFN" not in said
    assert "[feed-forward network](glossary#feed-forward-mlp) (FFN: the one MLP a layer without experts has)" in said
    assert "[dropless](glossary#dropless-moe) token choice (each token picks its own top-k experts" in said
    assert "[expert choice](glossary#expert-choice) (each expert picks its C best tokens" in said
    _links_land(said)


def test_section_5_table_says_which_columns_are_per_token_and_what_the_change_measures(page):
    """Before: per-token columns mixed with batch-wide ones, and "output change" with no unit."""
    from moeviz.app.parallel_page import TOKEN_COLUMNS, TOKEN_ORDER
    labels = {key: col["label"] for key, col in TOKEN_COLUMNS.items()}
    per_token = ("experts in the batch (prefill)", "experts alone (decode)", "max |output change|")
    assert all(labels[key].startswith("token: ") for key in per_token)
    assert labels["tokens of the batch that change"].startswith("batch: ")
    assert TOKEN_ORDER[1:4] == per_token  # the token's columns side by side
    said = _section(page, 5)
    assert "The “token:” columns are about the token picked above" in said
    assert "the largest absolute difference in any one of its d_model output numbers" in said


def test_section_6_says_what_its_router_is_and_links_device_limited_routing(page):
    """Before: "sigmoid + selection bias" unexplained; "device-limited routing" not linked."""
    text = _section(page, 6)
    assert "sigmoid + selection bias" not in text
    assert "each expert's score is the sigmoid of its logit" in text and "selection bias is added" in text
    assert "[device-limited routing](glossary#node-limited-routing)" in text
    _links_land(text)


def test_section_6_says_its_gpu_stands_in_for_deepseeks_node(page):
    """Before: "at most M GPUs" in the heading and control, "at most 4 nodes" in the text, unreconciled."""
    text = _section(page, 6)
    assert "each of the demo's GPUs stands in for one of DeepSeek's nodes (a node is one machine of several GPUs" \
        in text


@pytest.mark.parametrize("lost, words", [(0, "no token lost every expert"), (1, "1 token lost every expert"),
                                         (3, "3 tokens lost every expert")])
def test_section_4_counts_the_tokens_that_lost_every_expert(lost, words):
    """The third layout read found "{both.tokens_lost_all} lost every expert" on screen: a string missing its f."""
    from moeviz.app.parallel_page import dropless_sentence
    from moeviz.parallel.dropless import DroplessVsCapacity
    both = DroplessVsCapacity(32, 64, 1.0, 8, [13, 9, 8, 8, 7, 7, 6, 6], [8, 8, 8, 8, 7, 7, 6, 6], 5, lost, 4, 0.29)
    said = dropless_sentence(both)
    assert "{" not in said and f"{words}, and the buffers hold" in said


def test_expert_choice_says_how_its_c_is_set(page):
    """Before: section 5 said each expert "picks its C best tokens" and never where C comes from."""
    from moeviz.config import MoEConfig
    said = next(c.value for c in page.caption if "picks among the tokens present" in c.value)
    match = re.search(r"C = ceil\(cf · T · k / N\) with cf = 1\b.*ceil\(1 · (\d+) · (\d+) / (\d+)\) = (\d+) in the "
                      r"batch, and (\d+) for a token alone", said)
    assert match, said
    tokens, k, n, in_batch, alone = map(int, match.groups())
    cfg = MoEConfig(num_experts=n, top_k=k, router="expert_choice")
    assert (in_batch, alone) == (cfg.capacity(tokens), cfg.capacity(1))


def test_the_papers_the_page_names_link_to_their_card(page):
    """Before: MegaBlocks, GShard, V-MoE and Mesh TensorFlow were named with no word on what they are."""
    from moeviz.glossary import PAPERS
    text = "\n".join(_texts(page))
    for words in ("MegaBlocks", "Switch, GShard, V-MoE", "Mesh TensorFlow"):
        assert f"[{words}](glossary#{anchor(PAPERS)})" in text, words
    _links_land(text)


def test_the_links_policy_name_is_explained_beside_its_label():
    """Two reads in a row: the link said drop_policy=position while the radio said "first choices first" and the
    text called Megatron-Core's “position” another rule. The URL value stays (saved links and lessons use it);
    the rule's text now says that the link's name is this rule's."""
    from tests.app.test_parallel_page import open_page as open_parallel
    at = open_parallel({"capacity_factor": "1"})
    text = "\n".join(_texts(at))
    assert "A link names this rule drop_policy=position" in text
