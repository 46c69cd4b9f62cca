"""One model, one tokenization (issue 18): /, /variants and /heatmap open on olmoe-tiny, name it the same way,
cut the same sentence into the same tokens, and say which N and k they use."""
from tests.app import pages

SENTENCE = "The router sends each word to only two of the experts."


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_walkthrough_opens_on_olmoe_tiny_and_says_what_it_uses():
    at = pages.open_page("app.py")
    assert not at.exception
    text = _captions(at)
    assert "olmoe-tiny (8 experts): a tiny model with OLMoE's architecture" in text
    assert "**Used here:** N = 8 · k = 2" in text
    assert "␣ marks a space" in text.replace("\\", "")
    assert at.query_params["model"] in ("olmoe-tiny", ["olmoe-tiny"])


def test_n_and_k_act_on_the_default_page():
    small = _captions(pages.open_page("app.py", {"num_experts": "4", "top_k": "3"}))
    assert "N = 4 · k = 3" in small
    far = _captions(pages.open_page("app.py", {"num_experts": "7"}))
    assert "asks for N = 7" in far and "nearest (8)" in far


def test_old_links_keep_moeviz_lm_with_a_notice():
    for params in ({"trained": "1"}, {"model": "moeviz-lm"}):
        at = pages.open_page("app.py", params)
        assert not at.exception
        assert any("moeviz-lm" in w.value for w in at.warning)
        assert "moeviz-lm: moeviz's own older language model" in _captions(at)
        at.button(key="walk_use_default").click().run()
        assert "olmoe-tiny (8 experts): a tiny model" in _captions(at)


def test_variants_route_the_walkthroughs_tokens_with_the_same_model():
    walk = pages.open_page("app.py", {"text": SENTENCE})
    variants = pages.open_page("pages/5_variants.py", {"text": SENTENCE})
    assert not variants.exception
    assert "olmoe-tiny (8 experts): a tiny model with OLMoE" in _captions(variants).replace("\\", "")
    # the same token count on both pages, from the same tokenizer (the subword note states it)
    count = [c.value for c in walk.caption if "subword pieces" in c.value][0].split(" ")[0]
    assert any(c.value.startswith(count + " tokens") for c in variants.caption)
    changes = variants.dataframe[1].value if len(variants.dataframe) > 1 else None
    assert changes is None or set(changes["text"]) <= set(_labels(SENTENCE))


def _labels(text):
    from moeviz.app.runners import checkpoint_routing
    from moeviz.hf.folders import SHIPPED_DIR
    return checkpoint_routing("olmoe-tiny", str(SHIPPED_DIR / "olmoe-tiny"), text).tokens


def test_one_text_box_carries_the_text_between_pages():
    at = pages.open_page("app.py")
    at.text_input(key="text").set_value("def area(w, h): return w * h").run()
    at.switch_page("pages/1_heatmap.py").run()
    assert not at.exception
    assert at.text_area(key="text").value == "def area(w, h): return w * h"
    at.switch_page("pages/5_variants.py").run()
    assert at.text_input(key="text").value == "def area(w, h): return w * h"


def test_heatmap_routes_a_long_text_in_windows_and_says_what_it_uses():
    text = ("An iterator is created for the result of the expression list, and the suite is run once for each "
            "item. ") * 18
    at = pages.open_page("pages/1_heatmap.py", {"text": text[:2000]})
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "windows of at most 128 tokens" in infos and "figures show 64 tokens" in infos
    assert "**Used here:** N = 8 · k = 2, the model's own" in _captions(at)
    assert at.selectbox(key="token_window").value == 0
    assert "trained here on" in _captions(at).replace("\\", "")


def test_the_random_layer_reads_the_same_tokens():
    trained = pages.open_page("app.py", {"text": SENTENCE})
    random = pages.open_page("app.py", {"text": SENTENCE, "trained": "0", "model": "olmoe-tiny"})
    assert not random.exception
    note = [c.value for c in trained.caption if "subword pieces" in c.value]
    assert note and note == [c.value for c in random.caption if "subword pieces" in c.value]


def _screen_words(at) -> str:
    """Every sentence, caption and table header the page shows (headers as the reader sees them: the labels of
    the tables' column configs)."""
    import json
    words = [m.value for m in [*at.markdown, *at.caption, *at.info, *at.metric]
             if isinstance(getattr(m, "value", None), str)] + [m.label for m in at.metric]
    for frame in at.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        words += [str(config.get(str(name), {}).get("label", name)) for name in frame.value.columns]
    return " | ".join(words)


def test_the_load_ratio_has_one_name_on_every_page_that_shows_it():
    """The busiest expert's load ÷ the mean was "max/mean load" on /heatmap and /variants and "busiest ÷ mean
    load" on /balance: one quantity, two names a learner had to match up."""
    from moeviz.glossary import LOAD_RATIO
    for page in ("pages/1_heatmap.py", "pages/5_variants.py", "pages/2_balance.py"):
        words = _screen_words(pages.open_page(page))
        assert LOAD_RATIO in words, page
        assert "max/mean" not in words.lower() and "max / mean" not in words.lower(), page


def test_dropped_copies_have_one_name_on_every_page_that_counts_them():
    """A token copy that found its expert full was a "dropped slot" on /parallel and in the glossary's health
    table, a "dropped token copy" on /heatmap and a "dropped copy" on /balance. (The glossary's entry keeps its
    title, "Dropped slot", for old links to its anchor, and says that both names mean one thing.)"""
    for page in ("pages/3_parallel.py", "pages/2_balance.py"):
        at = pages.open_page(page)
        words = (_screen_words(at) + " | " + " ".join(t.value for t in at.title)).lower()
        assert "dropped copies" in words, page
        assert "dropped slot" not in words and "dropped token cop" not in words, page
    glossary = _screen_words(pages.open_page("pages/7_glossary.py")).lower()
    assert "dropped copies" in glossary and "a dropped copy. papers often call it a dropped slot" in glossary
