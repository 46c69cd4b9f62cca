"""/replicas' words as a newcomer read them from screenshots at 1920 px (slices c00..c05): each test names what
confused them before."""
import json
import re

from moeviz.eplb import balancedness, plan_replicas
from moeviz.routes import summarize
from moeviz.routes.example import EXAMPLE_SHAPE, example_npy
from tests.app.pages import open_page
from tests.app.test_replicas_story import slider, visible_text

PAGE = "pages/8_replicas.py"


def _main(at) -> list:
    """The main area's elements in page order."""
    return list(at.main)


def _index(at, kind: str, start: str) -> int:
    return next(i for i, n in enumerate(_main(at)) if type(n).__name__ == kind and n.value.startswith(start))


def test_the_nodes_slider_is_said_and_what_it_changes():
    """Before: section 3's "Nodes" slider (value 1) was never mentioned: no word on what a node is or what more of
    them change (EPLB's hierarchical plan: replicas stay inside each node)."""
    at = open_page(PAGE)
    said = next(c.value for c in at.main.get("caption") if c.value.startswith("**Nodes**"))
    assert "a node is one machine holding several GPUs" in said and "hierarchical" in said
    assert "replicas are made and placed only inside each node" in said
    balancedness_metric = next(i for i, n in enumerate(_main(at)) if getattr(n, "label", None) == "Balancedness")
    assert _index(at, "Caption", "**Nodes**") < balancedness_metric  # said beside the slider, above the chart
    at = open_page(PAGE, {"gpus": "4", "replicas": "4", "nodes": "2"})
    counts = summarize(example_npy()).layers[0].tokens_per_expert
    plan = plan_replicas(counts, 4, 4, 2)
    for node, half in enumerate((plan.phy2log[:18], plan.phy2log[18:])):  # 36 slots, 18 a node
        assert all(e // 16 == node for e in half)  # node n holds (replicas of) its own block of 16 experts only


def test_the_skew_value_is_said_in_words():
    """Before: "Skew toward GPU 0's experts" = 0.9 with no word on what 0.9 means."""
    for skew, share in (("0.9", "90%"), ("0.5", "50%")):
        at = open_page(PAGE, {"replica_skew": skew})
        said = next(c.value for c in at.main.get("caption") if c.value.startswith("Skew "))
        pushed = round(float(skew) * 2048)
        assert f"Skew {skew}: {pushed:,} of the batch's 2,048 tokens ({share}), picked at random, are made to " \
               "resemble what two of GPU 0's experts respond to most" in said


def test_the_run_says_what_it_will_measure_before_the_button_is_pressed():
    """Before: the empty area under the button only said the batch runs twice, not what it measures."""
    at = open_page(PAGE)
    said = next(c.value for c in at.main.get("caption") if c.value.startswith("The button runs"))
    for shown in ("**step time**", "**token copies each GPU computed**", "where each GPU's time went",
                  "one process computing the whole layer"):
        assert shown in said, shown


def test_the_gpu_load_chart_names_its_layer_and_the_memory_counts_every_layer():
    """Before: "Token copies each GPU computes" said no layer, and the memory line did not say it is R replicas per
    layer times the dump's 8 layers."""
    at = open_page(PAGE, {"routes_layer": "3"})
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Layer 3: token copies each GPU computes" in titles
    memory = next(m.value for m in at.markdown if m.value.startswith("**Memory**"))
    layers = EXAMPLE_SHAPE["layers"]
    assert f"The chart is layer 3 alone, but each of the {layers} MoE layers" in memory
    assert f"2 × {layers} layers = {2 * layers} replicas over 2 GPUs" in memory


def test_the_capacity_words_are_defined_where_a_bigger_factor_is_weighed():
    """Before: "capacity factor", "padding" and "N buffers" came before section 4 defines C."""
    at = open_page(PAGE)
    said = next(m.value for m in at.markdown if m.value.startswith("**Why not just a bigger capacity factor?**"))
    assert "[capacity factor](glossary#capacity-factor)" in said and "C = cf × its even share" in said
    assert "empty padding rows" in said and "buffer (memory set aside for C token copies" in said
    assert _index(at, "Markdown", "**Why not just") < _index(at, "Header", "4 ·")


COPY = re.compile(r"\bcop(y|ies)\b", re.I)
ALLOWED = ("token cop", "(extra copies)", "a whole copy of an expert", "copying its weights")


def test_copy_means_a_token_copy_and_replica_an_expert_copy():
    """Before: "its colour, the token copies that copy computes (its expert's copies split them evenly)": copy
    meant a token sent to an expert and a copy of an expert. Now expert copies are replicas (defined in the intro),
    and a token copy is defined where first met (section 2)."""
    for params in ({}, {"gpus": "4", "replicas": "4", "routes_layer": "0"}):  # the second has two on one GPU
        at = open_page(PAGE, params)
        for text in visible_text(at):
            rest = text
            for allowed in ALLOWED:
                rest = re.sub(re.escape(allowed), "", rest, flags=re.I)
            assert not COPY.search(rest), text
    said = [m.value for m in at.markdown if "**token copy**" in m.value]
    assert said and said[0].startswith("A **token copy** is one token sent to one of its k experts")
    texts = [getattr(e, "value", "") for e in _main(at) if isinstance(getattr(e, "value", None), str)]
    first = next(i for i, t in enumerate(texts) if re.search("token cop", t, re.I))
    assert texts[first].startswith("A **token copy** is one token sent")  # defined where first met


def test_bf16_says_two_bytes_a_number():
    """Before: "3 matrices of 4096×14336 in bf16", with no word on bf16's size."""
    at = open_page(PAGE)
    memory = next(m.value for m in at.markdown if m.value.startswith("**Memory**"))
    assert "[bf16](glossary#bf16-and-fp32), 2 bytes a number" in memory


def test_dropless_is_defined_on_the_page():
    """Before: the sidebar's "Section 7's run is dropless" and no word on the page on what dropless means."""
    at = open_page(PAGE)
    said = next(c.value for c in at.main.get("caption") if c.value.startswith("The run is "))
    assert "[dropless](glossary#dropless-moe): no capacity limit, so every token copy is computed" in said
    assert _index(at, "Header", "7 ·") < _index(at, "Caption", "The run is ")


def test_router_rules_and_drop_policies_are_said_in_words():
    """Before: "Switch's top-1", "GShard, Switch" and "by combine weight" with no words or links."""
    at = open_page(PAGE)
    texts = visible_text(at)
    assert any("the Switch Transformer's top-1: each token goes to its one best expert" in t for t in texts)
    said = next(c.value for c in at.caption if c.value.startswith("Which token copies are dropped"))
    assert "as Google's GShard and Switch Transformer MoE models do" in said
    assert "[combine weight](glossary#combine-weight) (the router weight a token gives that expert)" in said
    assert "Megatron-Core: NVIDIA's library for training" in said


def test_journeys_say_how_drops_show_and_which_slider_sets_them():
    """Before: "Move the window later to see them" over a grid with no legend for a dropped copy."""
    at = open_page(PAGE, {"routes_capacity": "1.0"})
    said = next(c.value for c in at.caption if c.value.startswith("No token copy in this window is dropped"))
    assert "section 4's capacity (cf = 1; its capacity factor slider sets the drops)" in said
    assert "The grid never marks drops" in said and "a table under it lists each dropped token copy" in said
    at = open_page(PAGE, {"routes_capacity": "1.0", "routes_window": "3000"})
    said = next(m.value for m in at.markdown if m.value.startswith("At section 4's capacity"))
    assert said.startswith("At section 4's capacity (cf = 1)") and "The grid above does not mark them" in said


def test_the_sidebar_scope_is_a_box_near_the_top_with_both_n_and_k():
    """Before: the sidebar showed N = 8, k = 2 beside a page of 32 experts and k = 4, said once in small grey text
    inside section 1."""
    at = open_page(PAGE)
    box = at.info[0]
    nodes = _main(at)
    where = next(i for i, n in enumerate(nodes) if getattr(n, "value", None) == box.value)
    assert where < next(i for i, n in enumerate(nodes) if getattr(n, "value", None) == "1 · Bring the routing")
    assert box.value.startswith("**The sidebar's N = 8, k = 2 and router act only in section 7's run**")
    assert f"here N = {EXAMPLE_SHAPE['experts']} and k = {EXAMPLE_SHAPE['top_k']}" in box.value


def test_a_perfect_balance_is_explained_as_this_dumps_case():
    """Before: "with 2 replicas" read 1.000 on all 8 layers, with no word on whether that is typical."""
    at = open_page(PAGE)
    frame = next(d for d in at.dataframe if "with 2 replicas" in d.value.columns)
    assert (frame.value["with 2 replicas"] > 0.9995).all()
    said = next(m.value for m in at.markdown if m.value.startswith("**Why 1.000 on every layer?**"))
    assert "not typical" in said and "made up" in said and "Expect less than 1.00 there" in said
    loads = [s.tokens_per_expert for s in summarize(example_npy()).layers]
    moved = min(balancedness(plan_replicas(c, 0, 2).gpu_load(c)) for c in loads)
    assert f"already gives {moved:.3f}" in said and f"at most about {max(max(c) / sum(c) for c in loads):.0%}" in said
    at = open_page(PAGE, {"gpus": "8", "replicas": "8"})  # below 1.000 somewhere: nothing to explain
    assert not any(m.value.startswith("**Why 1.000") for m in at.markdown)


def test_the_sidebar_says_what_dropless_means_where_it_says_it():
    """Before: the sidebar's "not used" line said "Section 7's run is dropless" with no word on what that means."""
    at = open_page(PAGE)
    line = next(c.value for c in at.sidebar.caption if "Section 7's run is dropless" in c.value)
    assert "dropless (no copy dropped)" in line
