"""Every page says which sidebar knobs act on it: the declaration (data, in moeviz.app.nav), the sidebar's
"not used" lines and the layer line's list, and the N and k a page really uses, shown next to the controls."""
import pytest

from moeviz.app.knobs import ALL, KNOB_NAMES, KnobUse, acting_words, knobs_sentence, lines, used_text
from moeviz.app.layer_line import SECTION_PREFIX, layer_line_text
from moeviz.app.nav import PAGES
from moeviz.app.params import DEFAULTS, SHARED_KEYS
from moeviz.config import MoEConfig
from tests.app.pages import open_page

MAX_REASON_CHARS = 110  # one line in the 300-px sidebar is about 45 characters: three lines at most


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url)
def test_every_page_declares_which_knobs_act(page):
    assert page.knobs, f"{page.path} declares no knob use"
    for view, use in page.knobs.items():
        assert isinstance(use, KnobUse)
        assert set(use.idle) <= set(SHARED_KEYS)
        assert set(use.acting) | set(use.idle) == set(SHARED_KEYS)
        for key, why in use.idle.items():
            assert why.strip() and "\n" not in why and len(why) <= MAX_REASON_CHARS, (page.path, view, key)
            assert why.endswith("."), (page.path, view, key)


def test_a_declaration_names_only_shared_knobs():
    with pytest.raises(ValueError):
        KnobUse({"drop_policy": "not a sidebar knob"})


def test_the_layer_line_names_the_acting_knobs_in_one_order():
    assert acting_words(("capacity_factor", "num_experts")) == "N and capacity factor"
    assert knobs_sentence(()) == "No sidebar knob acts on this layer."
    text = layer_line_text(MoEConfig(d_model=8, d_hidden=16), trained=False, note="A note",
                           knobs=("top_k", "num_experts", "seed"))
    assert text.endswith("A note. Sidebar knobs that act here: N, k and seed.")
    section = layer_line_text(MoEConfig(d_model=8, d_hidden=16), trained=False, section=True, knobs=SHARED_KEYS)
    assert section.startswith(SECTION_PREFIX) and "N, k, router, α, capacity factor and seed." in section


def test_one_line_when_no_knob_acts_for_one_reason():
    assert list(lines(dict.fromkeys(SHARED_KEYS, "Text only."))) == [ALL]
    assert set(lines({"seed": "a.", "router": "b."})) == {"seed", "router"}


def test_the_used_line_appears_only_when_the_page_has_another_n_or_k():
    values = dict(DEFAULTS)
    assert used_text(8, 2, 2, values, "the model's own") is None
    text = used_text(8, 2, 6, {**values, "num_experts": 64, "top_k": 6}, "the model's own")
    assert "This page uses N = 8, k = 2** (the model's own), not the sidebar's N = 64, k = 6" in text


def sidebar_text(at) -> str:
    """The sidebar's lines and boxes (a page where no knob acts says so in an info box)."""
    return " ".join([c.value for c in at.sidebar.caption] + [i.value for i in at.sidebar.info])


def layer_line_of(at) -> str:
    return next(c.value for c in at.caption if "Layer on this page:" in c.value or "Model on this page:" in c.value)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url)
def test_each_page_says_why_a_knob_does_not_act(page):
    """A plain visit shows the page's first view: each idle knob's reason in the sidebar, the others named by the
    layer line (the glossary has no layer line)."""
    at = open_page(page.path)
    assert not at.exception, [e.value for e in at.exception]
    use = next(iter(page.knobs.values()))
    shown = sidebar_text(at)
    for why in use.idle.values():
        assert why in shown, (page.path, why)
    if page.path != "pages/7_glossary.py":
        assert knobs_sentence(use.acting) in layer_line_of(at)


def test_the_walkthrough_says_which_knobs_act_on_the_layer_shown():
    trained = PAGES[0].knobs["trained"]
    at = open_page("app.py", {"trained": "0"})
    shown = sidebar_text(at)
    assert PAGES[0].knobs["random"].idle["balance_weight"] in shown
    assert trained.idle["router"] not in shown and trained.idle["seed"] not in shown  # both act on a random layer
    assert "Sidebar knobs that act here: N, k, router, capacity factor and seed." in layer_line_of(at)


def test_after_the_deepseek_preset_the_heatmap_shows_the_n_and_k_it_uses():
    at = open_page("pages/1_heatmap.py", {"num_experts": "64", "top_k": "6"})
    assert "This page uses N = 8, k = 2** (the model's own), not the sidebar's N = 64, k = 6" in sidebar_text(at)


def test_presenter_mode_shows_the_trained_models_n_beside_the_controls():
    """The trained walkthrough snaps N = 32 to the nearest shipped model; in presenter mode the page's header (and
    its note) is folded, so the sidebar says it, outside any expander."""
    at = open_page("app.py", {"num_experts": "32", "present": "1"})
    assert not at.exception
    assert "This page uses N = 16, k = 2** (the trained model's), not the sidebar's N = 32" in sidebar_text(at)
