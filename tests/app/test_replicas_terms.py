"""/replicas' terms as a newcomer read them from screenshots of the systems pages: each test names what confused
them before. The headings test covers /parallel too: both pages follow one rule."""
import re

from moeviz.app.parallel_page import POLICY_LABELS
from moeviz.routes import summarize
from moeviz.routes.example import example_npy
from tests.app import pages
from tests.app.pages import open_page
from tests.app.test_parallel_page import PAGE as PARALLEL
from tests.app.test_replicas_page import tiny_trace
from tests.app.test_replicas_story import slider

PAGE = "pages/8_replicas.py"
WHAT_IF_DEFINED = "routes the router logits the dump recorded again, under a rule you pick"


def _texts(at) -> list[str]:
    """Every text element of the main area, in page order."""
    return [getattr(n, "value", "") for n in at.main if isinstance(getattr(n, "value", None), str)]


def test_the_capacity_formula_says_what_t_k_n_and_cf_are():
    """Before: "C = ⌈cf·T·k/N⌉" with no word on T (the whole dump), k or N."""
    at = open_page(PAGE, {"routes_capacity": "1.0"})
    layer = summarize(example_npy()).layers[0]
    said = next(m.value for m in at.markdown if m.value.startswith("Each expert has C = ceil(cf · T · k / N)"))
    for symbol in ("cf = 1, the capacity factor above", f"T = {layer.tokens:,} tokens, the whole dump at this layer",
                   f"k = {layer.top_k} experts each token picks", f"N = {len(layer.tokens_per_expert)} experts",
                   "ceil rounds up"):
        assert symbol in said, symbol


def test_the_two_position_rules_have_two_names():
    """Before: /parallel's "by position (GShard, Switch)" (first choices, then token order) and /replicas'
    "by position" (Megatron-Core's token order alone) shared one word for two rules."""
    from moeviz.app.parallel_page import TOKEN_ORDER_RULE
    assert "position" not in POLICY_LABELS["position"] and "first choices first" in POLICY_LABELS["position"]
    assert TOKEN_ORDER_RULE.startswith("token order") and TOKEN_ORDER_RULE != POLICY_LABELS["position"]
    parallel = open_page(PARALLEL)
    assert parallel.radio(key="drop_policy").options[0] == POLICY_LABELS["position"]
    assert parallel.query_params.get("drop_policy", "position") in ("position", ["position"])  # URL value kept
    at = open_page(PAGE)
    caption = next(c.value for c in at.caption if c.value.startswith("Which token copies are dropped"))
    assert caption.startswith(f"Which token copies are dropped: **{TOKEN_ORDER_RULE}**")
    assert f"“{POLICY_LABELS['position']}” queues every first choice before any second choice" in caption
    for page in (parallel, at):
        assert not any(re.search(r"\bby position\b", t) for t in _texts(page))


def test_the_what_if_is_said_in_plain_words_where_it_first_shows():
    """Before: "router probabilities and what-if" in section 1's list and "No probabilities or what-if" in
    section 6, and nowhere what a what-if is."""
    at = open_page(PAGE)  # the built-in example: no logits, so both places say what it cannot show
    mentions = [t for t in _texts(at) if "what-if" in t]
    assert WHAT_IF_DEFINED in mentions[0] and "(section 6)" in mentions[0]
    assert "capacity limit the real run may not have had" in mentions[0]
    texts = _texts(at)
    assert WHAT_IF_DEFINED in texts[texts.index("6 · With router logits") + 1]  # right under the header
    at = open_page(PAGE, {"routes_source": "upload"})  # a trace with logits: section 6 is where it first shows
    at.file_uploader(key="routes_upload").set_value(("trace.json", tiny_trace(), "application/json")).run()
    assert not at.exception
    assert WHAT_IF_DEFINED in next(t for t in _texts(at) if "what-if" in t)


def test_the_run_says_why_its_replicas_start_above_zero():
    """Before: section 7's replicas slider started at 2 and section 3's at 0, with no reason given. The run
    always shows the no-replica layout beside the plan's, so R = 0 would run that twice."""
    at = open_page(PAGE)
    assert str(slider(at, "replicas").options[0]) == "0"
    workers = slider(at, "replica_workers").value
    assert str(slider(at, "replica_run_r").options[0]) == str(workers)
    # a newcomer read "R starts at 2 here, where section 3's starts at 0" beside an intro saying both sections
    # start at 2 replicas: the words now name the slider's lowest value, not where it starts
    assert str(slider(at, "replica_run_r").value) == str(slider(at, "replicas").value)
    said = [c.value for c in at.main.get("caption") if c.value.startswith("The R slider's lowest value")]
    assert said and f"The R slider's lowest value is {workers} here, 0 in section 3" in said[0]
    assert not any("R starts at" in c.value for c in at.main.get("caption"))
    assert "R = 0 would only run it twice" in said[0]


def test_sub_parts_look_subordinate_to_numbered_sections_on_both_systems_pages():
    """Before: "Every layer" and "Do consecutive layers choose together?" (h3) sat under "3 · …" and "5 · …" (h2)
    with nothing else to tell them apart, and read as sections. Now every numbered section (and only those) has a
    rule under it, a part inside one is a heading one level down without it: on /replicas and on /parallel."""
    at = open_page(PAGE)
    assert [h.value for h in at.subheader] == ["Every layer", "Do consecutive layers choose together?"]
    assert all(h.proto.tag == "h3" and not h.proto.divider for h in at.subheader)
    inside = [h.value for block in pages.keyed_blocks(at, "subpart_") for h in block.subheader]
    assert sorted(inside) == sorted(h.value for h in at.subheader)  # app.subsection: drawn smaller by the CSS
    for page in (at, open_page(PARALLEL), open_page("pages/4_compute.py")):
        headers = page.header
        assert len(headers) >= 3 and all(re.match(r"\d · ", h.value) for h in headers), [h.value for h in headers]
        assert all(h.proto.tag == "h2" and h.proto.divider == "gray" for h in headers)
