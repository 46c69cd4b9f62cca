"""/parallel as a newcomer read it from screenshots: each test names what confused them before."""

import json
import math
import re

from tests.app.test_parallel_page import figure, open_page, traces

from moeviz.config import DEFAULT_SWITCH_CAPACITY


def test_the_switch_rows_say_top_1_and_why_their_c_is_smaller():
    """Before: "Switch (capacity 1.25)" showed C = 5 while section 4 said 1.25 gives C = 10 for the same 32 tokens,
    and nothing said Switch is top-1."""
    at = open_page({"num_experts": "8", "top_k": "2", "tokens": "32"})
    assert not at.exception
    rows = next(d for d in at.dataframe if "C in the batch" in d.value.columns).value.set_index("routing")
    label = f"Switch, top-1 (capacity {DEFAULT_SWITCH_CAPACITY:g})"
    assert label in rows.index
    c = int(rows.loc[label, "C in the batch"])
    assert c == math.ceil(DEFAULT_SWITCH_CAPACITY * 32 * 1 / 8)  # the formula for one copy per token
    said = [m.value for m in at.markdown if m.value.startswith("Switch sends each token to 1 expert")]
    assert said and f"C = ceil({DEFAULT_SWITCH_CAPACITY:g} · 32 · 1 / 8) = {c}" in said[0]
    assert "top-2" in said[0]


def test_the_step_deltas_are_the_difference_of_the_values_shown():
    """Before: "−89 ms vs no drops" under 90 ms against 178 ms (the delta came from the unrounded times)."""
    from moeviz.app.parallel_page import step_delta
    capped, skewed = {"step_ms": 89.6}, {"step_ms": 178.4}
    shown = int(f"{capped['step_ms']:.0f}") - int(f"{skewed['step_ms']:.0f}")
    assert step_delta(capped, skewed) == f"{shown:+d} ms" == "-88 ms"


def test_the_capacity_sentence_names_the_runs_without_drops():
    """Before: "(none in the first two runs)", which a reader had to decode."""
    from moeviz.app.parallel_page import capacity_sentence
    gpu = {"rank": 0, "rows_received": 10, "rows_from_others": 5, "compute_ms": 1.0, "wait_ms": 0.0, "step_ms": 1.0}
    from moeviz.parallel.reading import worker_summary
    runs = {"skewed": {"step_ms": 120.0}, "skewed_capacity": {"step_ms": 70.0, "capacity_factor": 1.0,
                                                              "dropped_fraction": 0.3}}
    said = capacity_sentence(runs, worker_summary([gpu]), worker_summary([gpu]), top_k=2, skew=0.75)
    assert "none in the balanced run or the skew 0.75 run with no limit" in said and "first two" not in said


def _texts(at) -> list[str]:
    """Every text element of the main area, in page order."""
    return [getattr(node, "value", "") for node in at.main if isinstance(getattr(node, "value", None), str)]


def test_row_is_defined_where_the_page_first_uses_it():
    at = open_page()
    texts = [t for t in _texts(at) if re.search(r"\brows?\b", t)]
    assert texts and "A **row** is one token copy an expert computes" in texts[0]
    swatch = traces(figure(at, "The same batch"))["capacity: rows dropped"]["marker"]
    assert swatch.get("pattern", {}).get("shape")  # a visible legend swatch (before: white, blank)


def test_the_model_symbols_are_defined_before_the_formulas():
    """Before: m, g, B, t_msg, T_dev were explained only in the caption under the equations."""
    at = open_page()
    order = [node for node in at.main if type(node).__name__ in ("Caption", "Latex")]
    first_formula = next(i for i, n in enumerate(order) if type(n).__name__ == "Latex")
    before = " ".join(n.value for n in order[:first_formula])
    for symbol in ("n_mat = ", "g = ", "B = ", "t_msg = latency per message", "T_dev = ", "R = "):
        assert symbol in before
    # one name per idea across pages: /compute's m is DeepSeekMoE's split count, and every page says d_model and
    # d_hidden (a reader met m, D and H here for other things)
    assert "m = weight matrices" not in before and "D = d_model" not in before and "d_hidden" in before


def test_no_config_field_names_in_the_node_limit_text():
    """Before: section 6 named `DeepseekV3TopkRouter`, `n_group` and `topk_group` in its main text."""
    at = open_page()
    text = "\n".join(_texts(at))
    assert "device-limited routing" in text
    assert not re.search(r"DeepseekV3TopkRouter|\bn_group\b|\btopk_group\b", text)
