"""/replicas as a newcomer read it from screenshots (issue 18): each test names what confused them before."""
import json
import math

from moeviz.app.parallel_page import POLICY_LABELS
from moeviz.config import DROP_POLICIES
from moeviz.glossary import LOAD_RATIO
from moeviz.routes import summarize, views
from moeviz.routes.example import example_npy
from tests.app.pages import open_page
from tests.app.test_parallel_page import PAGE as PARALLEL
from tests.app.test_replicas_page import tiny_trace

PAGE = "pages/8_replicas.py"


def test_section_2_names_the_ratio_once_and_says_which_gpu_sets_the_pace():
    """Before: "(max/mean per expert …) With one expert per GPU, every GPU waits for that one", on a page whose
    layout puts 32 experts on 2 GPUs."""
    at = open_page(PAGE)
    assert not at.exception
    said = next(m.value for m in at.markdown if "the busiest expert gets" in m.value)
    counts = summarize(example_npy()).layers[0].tokens_per_expert
    assert f"**{max(counts) / (sum(counts) / len(counts)):.2f}×**" in said
    assert LOAD_RATIO in said and "max/mean" not in said and "one expert per GPU" not in said
    assert "the GPU holding the busiest expert(s)" in said and "sets the pace" in said


def test_balancedness_is_defined_right_under_its_metric():
    """Before: mean ÷ max per GPU was defined only in the metric's tooltip and in a caption far below."""
    at = open_page(PAGE)
    nodes = list(at.main)
    metric = next(i for i, n in enumerate(nodes) if getattr(n, "label", None) == "Busiest GPU")
    # the first text after the row of metrics (and the selectbox beside them) is the definition
    first = next(n.value for n in nodes[metric:] if type(n).__name__ in ("Caption", "Markdown"))
    assert first.startswith("Balancedness = mean ÷ busiest load per GPU; 1 = every GPU equally busy"), first
    assert f"inverse of the {LOAD_RATIO}, counted per GPU instead of per expert" in first


def test_the_intro_says_what_eplb_vllm_and_sglang_are():
    """Before: "EPLB", "vLLM" and "SGLang" stood in the page's first lines with no word on what they are."""
    at = open_page(PAGE)
    intro = at.main.get("caption")[0].value
    eplb = intro.index("EPLB")
    assert "DeepSeek's load balancer for [expert parallelism](glossary#expert-parallelism)" in intro[eplb:eplb + 120]
    assert "replicas (extra copies) of the busiest experts and places them on GPUs" in intro
    assert intro.index("vLLM") < intro.index("serve models") and "SGLang" in intro


def test_at_cf_1_the_text_says_the_two_lines_coincide():
    """Before: at cf = 1 the dotted even share and the dashed C lay on one another and looked like one line."""
    counts = summarize(example_npy()).layers[0].tokens_per_expert
    for cf in (1.0, 1.25):
        at = open_page(PAGE, {"routes_capacity": str(cf)})
        said = next(m.value for m in at.markdown if m.value.startswith("Each expert has C"))
        capacity = views.capacity_drops(summarize(example_npy()), cf)[0].capacity
        coincide = capacity == math.ceil(sum(counts) / len(counts))
        assert coincide == (cf == 1.0)
        assert ("C is the even share rounded up: the dotted and dashed lines coincide" in said) == coincide


def test_every_ratio_of_the_layer_table_shows_three_decimals():
    """Before: the "with N replicas" column showed 1 beside 0.595."""
    at = open_page(PAGE)
    frame = next(d for d in at.dataframe if "with 2 replicas" in d.value.columns)
    config = json.loads(frame.proto.columns)
    ratios = [c for c in frame.value.columns if c not in ("layer", "tokens", "k")]
    assert len(ratios) == 4 and (frame.value["with 2 replicas"] == 1).any()
    assert all(config[c]["type_config"]["format"] == "%.3f" for c in ratios)
    assert config["max/mean per expert"]["label"] == LOAD_RATIO


def test_drop_policies_have_one_name_on_both_pages():
    """Before: /replicas said "the least likely copies (Megatron's default)" and a raw "weight" in its what-if
    box, /parallel's radio "by combine weight (Megatron-Core)". Megatron-Core's `probs` (its default) keeps the
    highest combine weights; its `position` keeps token order."""
    parallel = open_page(PARALLEL)
    radio = next(r for r in parallel.radio if r.key == "drop_policy")
    assert radio.options == [POLICY_LABELS[p] for p in DROP_POLICIES]
    assert "Megatron-Core's default" in POLICY_LABELS["weight"]
    rules = "\n".join(m.value for m in parallel.markdown if "Copies queue for slots" in m.value)
    assert "Megatron-Core's “position” drop policy" in rules  # the default radio choice names Megatron's variant
    at = open_page(PAGE)
    caption = next(c.value for c in at.caption if c.value.startswith("Which token copies are dropped"))
    assert f"“{POLICY_LABELS['weight']}”" in caption and f"“{POLICY_LABELS['position']}”" in caption
    assert "Megatron-Core's “position” drop policy" in caption and "least likely" not in caption
    at = open_page(PAGE, {"routes_source": "upload"})
    at.file_uploader(key="routes_upload").set_value(("trace.json", tiny_trace(), "application/json")).run()
    box = next(s for s in at.selectbox if s.key == "routes_whatif_drop")
    assert box.options == radio.options
