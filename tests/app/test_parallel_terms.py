"""/parallel's terms as a newcomer read them from screenshots of the systems pages: each test names what confused
them before. (The two drop rules' labels on both pages: tests/app/test_replicas_terms.py.)"""
import re

import torch

from moeviz.glossary import TERMS, anchor
from moeviz.parallel.model import HARDWARE, MODEL_SHAPES, model_curve, when_comm_wins
from moeviz.router import group_limited
from tests.app.test_parallel_page import open_page


def _node_texts(at, kind: str) -> list[str]:
    return [n.value for n in at.main if type(n).__name__ == kind]


def test_the_capacity_formula_says_what_t_k_n_and_cf_are():
    """Before: "C = ceil(capacity factor · T · k / N)" with T never defined on the page."""
    for params in ({"capacity_factor": "1"}, {}):  # a limit, and capacity off
        at = open_page({"num_experts": "8", "top_k": "2", "tokens": "32", **params})
        said = next(m.value for m in at.markdown if "Copies queue for slots" in m.value)
        assert said.startswith("C = ceil(cf · T · k / N)")
        for symbol in ("cf = the capacity factor", "T = 32 tokens in the batch", "k = 2 experts each token picks",
                       "N = 8 experts", "ceil rounds up"):
            assert symbol in said, symbol


def test_section_2_writes_c_in_the_same_notation_and_says_whose_tokens():
    """Before: "C = ceil(cf · its tokens · k / N)", another notation for the formula section 1 writes with T."""
    from moeviz.parallel.demo import EP_TOKENS
    at = open_page()
    said = next(m.value for m in at.markdown if m.value.startswith("Expert parallelism: each of W GPUs"))
    assert "C = ceil(cf · T · k / N)" in said and "its tokens ·" not in said
    assert f"T = that GPU's own tokens (the step's {EP_TOKENS:,} ÷ W)" in said


def test_each_drop_policy_is_explained_at_the_radio_with_glossary_links():
    """Before: "by token priority (V-MoE)" and "combine weight" stood on the radio with no word on what they mean."""
    from moeviz.app.parallel_page import POLICY_CAPTIONS
    from moeviz.config import DROP_POLICIES
    at = open_page({"capacity_factor": "1"})
    radio = at.radio(key="drop_policy")
    assert list(radio.proto.captions) == [POLICY_CAPTIONS[p] for p in DROP_POLICIES]
    assert "largest top probability" in POLICY_CAPTIONS["priority"]
    assert "(glossary#combine-weight)" in POLICY_CAPTIONS["weight"]
    nodes = list(at.main)
    after = next(i for i, n in enumerate(nodes) if getattr(n, "key", None) == "drop_policy")
    full = next(n.value for n in nodes[after:] if type(n).__name__ == "Caption")  # the first line under it
    assert "(glossary#capacity-factor)" in full and "(glossary#dropped-slot)" in full
    linked = re.findall(r"\(glossary#([a-z0-9-]+)\)", " ".join([*POLICY_CAPTIONS.values(), full]))
    assert set(linked) <= {anchor(term) for term in TERMS}  # every link lands on an entry


def test_section_6_names_the_v3_group_score_the_chart_runs_and_v2s_variant():
    """Before: "The limit (DeepSeek-V2's device-limited routing) … scores each group by the sum of its two best
    scores", which is DeepSeek-V3's rule (transformers' DeepseekV3TopkRouter: topk(2).sum); V2's
    group_limited_greedy scores a group by its single best probability."""
    # the rule the chart runs: a group of one high score loses to a group of two good ones (V2 would keep it)
    scores = torch.tensor([[0.9, 0.0, 0.6, 0.6]])  # group 0: best 0.9, sum 0.9; group 1: best 0.6, sum 1.2
    assert group_limited(scores, n_group=2, topk_group=1).tolist() == [[False, False, True, True]]
    at = open_page()
    said = next(m.value for m in at.markdown if "The limit here is" in m.value)
    assert "**DeepSeek-V3's [node-limited routing](glossary#node-limited-routing)**" in said
    assert "sum of its two best experts' scores" in said and "transformers library does, as of its version 5.24" in said
    assert ("DeepSeek-V2's earlier *[device-limited routing](glossary#node-limited-routing)* scored a group by its "
            "single best expert") in said
    assert "(DeepSeek-V2's *device-limited routing*) groups" not in said


def test_the_model_shows_its_values_beside_the_formulas_and_they_recompute_the_chart():
    """Before: the formulas named F, B, t_msg but never said their values, nor the efficiency assumed."""
    at = open_page({"model_shape": "deepseek-v3", "hardware": "h100-nvlink-ib"})
    order = [n for n in at.main if type(n).__name__ in ("Caption", "Latex")]
    last_formula = max(i for i, n in enumerate(order) if type(n).__name__ == "Latex")
    said = order[last_formula + 1].value  # right under the formulas
    for value in ("F = 0.4 × 989 TFLOP/s rated = 395.6 TFLOP/s", "B_intra = 0.7 × 450 GB/s rated = 315 GB/s",
                  "B_inter = 0.8 × 50 GB/s rated = 40 GB/s", "t_msg = 10 µs", "g = 8", "b = 2 bytes",
                  "T_dev = 4,096", "n_mat = 3", "d_model = 7,168", "d_hidden = 2,048", "k = 8"):
        assert value in said, value
    # recompute the worked point from the values shown alone
    W = int(re.search(r"At W = (\d+)", said).group(1))
    R, g = 4096 * 8, min(W, 8)
    compute = 2 * 3 * R * 7168 * 2048 / 395.6e12
    comm = 2 * R * 7168 * 2 * ((g - 1) / (W * 315e9) + (W - g) / (W * 40e9)) + 2 * (W - 1) * 10e-6
    assert f"t_compute = {compute * 1e3:.3g} ms" in said and f"t_comm = {comm * 1e3:.3g} ms" in said
    row = when_comm_wins(model_curve(next(s for s in MODEL_SHAPES if s.startswith("DeepSeek-V3")),
                                     "h100-nvlink-ib"))
    assert row["num_devices"] == W


def test_every_efficiency_shown_is_a_round_share_of_a_rated_figure():
    """The page's rated figures (RATED) times a round efficiency give the model's own numbers (HARDWARE): a
    change to either shows here, not as a wrong sum on the page."""
    from moeviz.app.parallel_page import RATED
    fields = {"F": "flops_per_s", "B_intra": "intra_bytes_per_s", "B_inter": "inter_bytes_per_s"}
    for key, rated in RATED.items():
        for symbol, value in rated.items():
            share = getattr(HARDWARE[key], fields[symbol]) / value
            assert 0 < share <= 1 and abs(share - round(share, 2)) < 1e-9, (key, symbol, share)
