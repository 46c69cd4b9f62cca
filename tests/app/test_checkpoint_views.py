"""/heatmap's checkpoint views under AppTest: the default olmoe-tiny, the model picker and its link key, a folder
listed in MOEVIZ_MODEL_DIRS, refused models, text too long for the context, and trace uploads."""
import json
from pathlib import Path

import pytest

from moeviz.app.lm_heatmap import LM_NAME
from moeviz.hf.folders import ENV_VAR
from moeviz.hf.tiny import save_tiny_checkpoint
from moeviz.hf.tracefile import read_trace
from tests.app import pages

PAGE = "pages/1_heatmap.py"
SECTIONS = ("All layers at a glance", "every token and every expert", "A token's journey",
            "What each expert", "What if this model routed differently")


def open_page(params: dict | None = None):
    return pages.open_page(PAGE, params)


def headers(at) -> str:
    return " | ".join(h.value for h in at.header)


def plain(markdown: str) -> str:
    """A message as the reader sees it (escape_markdown's backslashes removed)."""
    return markdown.replace("\\", "")


def model_line(at) -> str:
    return next(plain(c.value) for c in at.caption if c.value.startswith("Model on this page:"))


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A MOEVIZ_MODEL_DIRS folder with a tiny Mixtral and a corrupt copy of it."""
    root = tmp_path_factory.mktemp("models")
    save_tiny_checkpoint("mixtral", root / "tiny-mixtral")
    broken = root / "broken-mixtral"
    save_tiny_checkpoint("mixtral", broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # truncated: its header promises more than the file holds
    return root


@pytest.fixture
def listed(model_dirs, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(model_dirs))
    return model_dirs


def test_default_is_olmoe_tiny_with_every_view():
    at = open_page()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning and not at.error
    assert at.selectbox(key="model").value == "olmoe-tiny"
    line = model_line(at)
    assert "OLMoE" in line and "N = 8 experts" in line and "k = 2" in line
    assert "4 layers (4 MoE, 0 dense)" in line and "A dense layer has one ordinary MLP where a MoE layer has" in line
    assert "527,424 parameters (232,512 used per token)" in line  # docs/checkpoints.md's counts
    for section in SECTIONS:
        assert section in headers(at)
    # layer loads, one layer's heatmap and load bars, the journey grid, co-selection, the what-if heatmap
    assert len(at.get("plotly_chart")) == 6
    assert len(at.main.get("download_button")) == 2
    assert at.selectbox(key="layer").options == ["layer 0", "layer 1", "layer 2", "layer 3"]


def test_the_picker_lists_shipped_models_first_then_the_listed_folders(listed):
    at = open_page()
    options = at.selectbox(key="model").options
    shipped = [o for o in options if o.endswith("· shipped, trained here")]
    assert options[:len(shipped)] == shipped and "olmoe-tiny (8 experts) · shipped, trained here" in shipped
    assert options[len(shipped)] == "moeviz-lm (moeviz's older LM, kept for old links)"
    assert options[len(shipped) + 1:] == ["broken-mixtral", "tiny-mixtral"]


def test_a_listed_model_is_loaded_by_name(listed):
    at = open_page({"model": "tiny-mixtral", "text": "The router sends each token to two of the experts."})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Mixtral" in model_line(at) and "N = 4 experts" in model_line(at)
    assert at.query_params["model"] in ("tiny-mixtral", ["tiny-mixtral"])


def test_a_corrupt_checkpoint_is_refused_and_the_page_keeps_working(listed):
    at = open_page({"model": "broken-mixtral"})
    assert not at.exception
    assert any("broken-mixtral" in plain(e.value) and "model.safetensors" in plain(e.value) for e in at.error)
    at.selectbox(key="model").set_value("olmoe-tiny").run()  # the same session goes on with another model
    assert not at.exception and not at.error
    assert "All layers at a glance" in headers(at)


@pytest.mark.parametrize("value", ["no-such-model", "../olmoe-tiny", "/etc/passwd", "olmoe-tiny/../../x",
                                   "..", ".hidden", " olmoe-tiny", "<b>x</b>"])
def test_a_bad_model_in_the_link_warns_and_falls_back(value, listed):
    at = open_page({"model": value})
    assert not at.exception
    assert any("`model`" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.selectbox(key="model").value == "olmoe-tiny"
    if "/" in value or ".." in value:
        assert any("path" in w.value for w in at.warning)


def test_a_name_outside_the_listed_folders_is_not_offered(model_dirs):
    at = open_page({"model": "tiny-mixtral"})  # MOEVIZ_MODEL_DIRS unset: the folder is not listed
    assert at.warning and at.selectbox(key="model").value == "olmoe-tiny"


def test_the_moeviz_lm_view_is_still_reachable():
    at = open_page({"model": LM_NAME})
    assert not at.exception
    assert any("What did the experts learn" in h.value for h in at.header)


def test_link_keys_set_layer_expert_and_what_if():
    at = open_page({"layer": "2", "expert": "5", "whatif": "softmax_topk_norm", "whatif_capacity": "0.5",
                    "whatif_drop": "weight"})
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="layer").value == 2 and at.selectbox(key="expert").value == 5
    assert at.selectbox(key="whatif").value == "softmax_topk_norm"
    assert at.select_slider(key="whatif_capacity").value == "0.5"
    assert at.selectbox(key="whatif_drop").value == "weight"
    assert "Layer 2: every token" in headers(at)
    assert any("to capacity (C =" in c.value for c in at.caption)


def test_text_longer_than_the_context_is_routed_in_windows():
    at = open_page()
    at.text_area(key="text").set_value("The loop runs. " * 100).run()  # far more than 128 tokens
    assert not at.exception
    assert any("routed in" in i.value and "windows of at most 128 tokens" in i.value for i in at.info)
    assert at.get("plotly_chart")  # routed and drawn, no longer refused


def _trace_json(at) -> bytes:
    # the page's own download, rebuilt from the routed text through the same writer
    from moeviz.app.runners import checkpoint_routing
    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.tracefile import routing_json
    return routing_json(checkpoint_routing("olmoe-tiny", str(SHIPPED_DIR / "olmoe-tiny"),
                                           at.text_area(key="text").value)).encode()


def test_an_uploaded_trace_is_shown_without_a_model():
    at = open_page({"model": LM_NAME})
    data = _trace_json(open_page())
    at.file_uploader(key="trace_upload").set_value(("trace.json", data, "application/json")).run()
    assert not at.exception and not at.error
    assert any("uploaded trace" in i.value for i in at.info)
    for section in SECTIONS:
        assert section in headers(at)
    assert len(read_trace(data).tokens) > 0


@pytest.mark.parametrize("content", [b"not json at all", json.dumps({"format": "something-else"}).encode(),
                                     b"\xff\xfe\x00", json.dumps({"format": "moeviz-checkpoint-trace",
                                                                  "version": 1, "token_ids": [1], "tokens": ["a"],
                                                                  "layers": "x"}).encode()])
def test_a_file_that_is_not_a_trace_gets_a_clear_message(content):
    at = open_page()
    at.file_uploader(key="trace_upload").set_value(("x.json", content, "application/json")).run()
    assert not at.exception
    assert any("cannot be shown" in plain(e.value) for e in at.error)
    assert "All layers at a glance" in headers(at)  # the model's own view goes on


def test_expert_choice_what_if_outlines_the_experts_a_token_lost():
    """The page passes the what-if's changes to its heatmap: under expert choice the experts the model ran for a
    token that did not pick it get the dotted outline (before: no outline at all). Reference: what_if itself."""
    from moeviz.figures.routing import EXPERT_NOT_PICKED
    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.whatif import what_if
    text = "The router sends each token to two experts."
    at = open_page({"text": text, "whatif": "expert_choice", "whatif_capacity": "1"})
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)  # the what-if heatmap is the page's last chart
    assert spec["layout"]["title"]["text"].endswith("under expert choice")
    dotted = next(d for d in spec["data"] if d.get("name") == EXPERT_NOT_PICKED)
    xs, ys = dotted["x"], dotted["y"]
    shown = {(round(min(ys[i:i + 5]) + 0.5), round(min(xs[i:i + 5]) + 0.5)) for i in range(0, len(xs), 6)}
    routing = load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu").route(text)
    w = what_if(routing.traces[0], "expert_choice", capacity_factor=1.0)
    assert shown == {(int(t), int(e)) for t, e in w.lost.nonzero().tolist()} and shown


def test_the_layer_table_shows_three_decimals_and_names_every_column():
    """A newcomer saw 1.61 beside 1.626 and an undefined "bal. loss": every number column of the all-layers
    table shows three decimals, and the caption under it defines each short header."""
    from moeviz.app.heatmap_text import layer_summary_columns
    columns = layer_summary_columns()
    assert set(columns) == {"max/mean load", "load CV", "router entropy", "balance loss"}
    assert all(c["type_config"]["format"] == "%.3f" for c in columns.values())
    at = pages.open_page("pages/1_heatmap.py")
    assert not at.exception
    assert any("Bal. loss:" in c.value and "Entropy:" in c.value for c in at.caption)  # the headers' words


def test_the_layer_table_caption_defines_f_p_and_the_entropy_with_log_n():
    """A newcomer read "N · Σ f_i · P_i (…; see the glossary)" with no f_i, no P_i and no link, and an "entropy"
    column with no scale: the caption defines both symbols, links the glossary's entry, says the entropy is a
    mean over tokens and gives log N for this model's N."""
    import math
    from moeviz.glossary import glossary_link
    at = pages.open_page("pages/1_heatmap.py")
    assert not at.exception
    caption = next(c.value for c in at.caption if "Bal. loss:" in c.value)
    assert "f_i is the share of the token copies routed to expert i" in caption
    assert "P_i is expert i's mean router probability" in caption
    assert glossary_link("Load balancing loss", "the glossary") in caption
    N = int(model_line(at).split("N = ")[1].split()[0])  # the model's own N, as the page names it (8)
    assert "mean over tokens of each token's [router entropy](glossary#router-entropy)" in caption
    assert f"ln {N} = {math.log(N):.2f} would be uniform" in caption


def test_the_load_bars_say_token_copies_not_tokens():
    """Newcomer: the bars sum to T·k (66 for 33 tokens, k = 2), so 'tokens per expert' misread them."""
    at = open_page()
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "token copies per expert" in specs
    assert "0: tokens per expert" not in specs
