"""The /glossary page under AppTest: every entry, links only to pages that exist, the health signals."""
import re
from pathlib import Path

import pytest
from google.protobuf import json_format
from streamlit.testing.v1 import AppTest

from moeviz.app.nav import PAGES
from moeviz.glossary import BALANCE_LOSS_VALUE, ENTRIES, HEALTH_SIGNALS, TERMS, anchor, glossary_link
from tests.app import pages

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("Router", "Gate", "Top-k", "Expert", "Capacity factor", "Dropped slot", "Load balancing loss", "z-loss",
            "Expert collapse", "Expert parallelism", "All-to-all", "Shared expert", "Active vs total parameters",
            "Dropless MoE", "Fine-grained experts", "Node-limited routing", "Routing at inference",
            # the words a learner met before any explanation (issue 18)
            "Hidden state", "Token and subword", "Logit", "Softmax", "Combine weight", "Residual path", "FLOPs",
            "d_model and d_hidden", "Expert choice", "Noisy top-k", "Router entropy", "Mutual information",
            "bf16 and fp32", "Prefill and decode",
            # the parts of step 1's block diagram (issue 18)
            "Attention", "Feed-forward MLP", "RMSNorm",
            # the papers and libraries the pages name (issue 18's last read)
            "MoE papers and libraries", "Micro-batch and global batch", "Mixture of Experts (MoE)")
# Where each entry's "see it" link must land: a phrase of the section that shows the term on that page.


def test_glossary_data_covers_the_terms():
    assert tuple(e.term for e in ENTRIES) == REQUIRED
    assert all(e.page is None or e.page == "app.py" or e.page.startswith("pages/") for e in ENTRIES)
    assert len(HEALTH_SIGNALS) >= 4 and all(len(row) == 3 for row in HEALTH_SIGNALS)


def test_page_shows_every_entry_and_links_each_to_its_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/7_glossary.py")
    at.run()
    assert not at.exception
    headings = {h.value: h for h in at.subheader}
    for term in REQUIRED:
        assert term in headings and headings[term].proto.anchor == anchor(term)
    labels = {p.path: p.label for p in PAGES}
    assert all(e.page in labels for e in ENTRIES if e.page is not None)  # a link always has a page to land on
    sidebar = {id(link.proto) for link in at.sidebar.page_link}
    see_it = [link.proto.label for link in at.get("page_link") if id(link.proto) not in sidebar]
    cards = sorted(ENTRIES, key=lambda e: e.term.casefold())  # the cards, A to Z like the index above them
    assert see_it == [f"See it: {labels[e.page]}" for e in cards if e.page is not None]
    assert len(at.table[0].value) == len(HEALTH_SIGNALS)


def rendered_text(page: str) -> str:
    """Everything `page` puts on the screen on its first run (text, labels, help, chart titles), lower-cased:
    what a learner following a "see it" link can read there, not what its source files mention."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if page != "app.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            texts.append(json_format.MessageToJson(node.proto, ensure_ascii=False))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(texts).lower()


@pytest.mark.parametrize("page", sorted({e.page for e in ENTRIES if e.page is not None}))
def test_see_it_links_land_on_a_page_that_shows_the_term(page):
    # A "see it" link must never lead to a page without the thing: each linked page is run once and every
    # entry that links to it is looked up in what it rendered.
    text = rendered_text(page)
    missing = [(e.shown_as or e.term) for e in ENTRIES if e.page == page and (e.shown_as or e.term).lower() not in text]
    assert not missing, f"{page} does not show {missing}"


def test_no_entry_names_a_page_by_its_url():
    """A learner reads page names, not paths ("/parallel" read as a word)."""
    for entry in ENTRIES:
        assert not re.search(r"(?<![\w(])/[a-z]+", entry.text), entry.term
    for row in HEALTH_SIGNALS:
        assert not re.search(r"(?<![\w(])/[a-z]+", " ".join(row)), row[0]


def test_glossary_links_point_at_entry_anchors():
    assert glossary_link("d_model and d_hidden", "d_model") == "[d_model](glossary#d-model-and-d-hidden)"
    with pytest.raises(KeyError):
        glossary_link("Not a term")
    assert len({anchor(t) for t in TERMS}) == len(TERMS)  # no two entries share an anchor


def test_the_balance_loss_value_is_said_once_and_is_true():
    """1 at even routing, N at a k = 1 collapse, and below 1 when the busiest experts get less probability."""
    import torch
    from moeviz.losses import load_balance_loss
    N, T = 4, 8
    even = load_balance_loss(torch.full((T, N), 1 / N), torch.full((N,), T // N))
    collapse = load_balance_loss(torch.eye(N)[[0] * T], torch.tensor([T, 0, 0, 0]))
    probs = torch.tensor([[0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3]] * T)  # expert 0 is busiest, with less than its 1/N
    below = load_balance_loss(probs.roll(1, dims=1), torch.tensor([T // 2, T // 6, T // 6, T - T // 2 - 2 * (T // 6)]))
    torch.testing.assert_close(even, torch.tensor(1.0))
    torch.testing.assert_close(collapse, torch.tensor(float(N)))
    assert below < 1
    assert "exactly 1" in BALANCE_LOSS_VALUE and "not a floor" in BALANCE_LOSS_VALUE
    sayings = [e.term for e in ENTRIES if "not a floor" in e.text] + [r[0] for r in HEALTH_SIGNALS if "floor" in r[1]]
    assert sayings == ["Load balancing loss"]  # said once


def test_z_loss_bounds_the_largest_logit_not_the_logits_size():
    """logsumexp lies in [max z, max z + ln N]: z-loss near 0 pins the largest logit in [-ln N, 0], while a router
    that shifts every logit down meets it with large |logits| (as the lab's penalised run did)."""
    import math
    import torch
    from moeviz.losses import z_loss
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0)) * 5
    lse = torch.logsumexp(z, -1)
    assert bool((lse >= z.max(-1).values).all() and (lse <= z.max(-1).values + math.log(8) + 1e-6).all())
    shifted = z - lse[:, None]  # every logit moved down: logsumexp = 0 for each token
    assert z_loss(shifted) < 1e-8 and shifted.abs().mean() > z.abs().mean() * 0.5
    assert "does not make the logits small" in TERMS["z-loss"].text


def test_mutual_information_reaches_ln_n_only_with_a_uniform_top1_choice():
    import math
    import numpy as np
    from moeviz.train import mutual_information
    N = 4
    uniform = np.eye(N) * 10  # each cluster to its own expert, equally often
    skewed = np.diag([40.0, 10, 10, 10])  # the cluster still fixes the expert, but the choice is not uniform
    assert math.isclose(mutual_information(uniform), math.log(N), rel_tol=1e-9)
    assert mutual_information(skewed) < math.log(N) - 0.1
    assert "only if the top-1 choice is uniform" in TERMS["Mutual information"].text


def test_step_1_links_the_parts_of_its_block_diagram():
    """Before: step 1 named the feed-forward MLP and drew attention and RMSNorm with no word on either."""
    from tests.app.pages import open_page
    at = open_page("app.py", {"step": "1"})
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    for term in ("Feed-forward MLP", "Attention", "RMSNorm"):
        assert f"](glossary#{anchor(term)})" in text, term


def test_an_a_to_z_line_links_every_term_to_its_entry():
    """Thirty-odd entries in the walkthrough's order: a learner looking one up scrolled past all of them."""
    from moeviz.glossary import ENTRIES, anchor
    at = pages.open_page("pages/7_glossary.py")
    index = next(m.value for m in at.markdown if m.value.startswith("**All entries, A–Z:**"))
    links = re.findall(r"\[([^\]]+)\]\(#([a-z0-9-]+)\)", index)
    assert [term for term, _ in links] == sorted((e.term for e in ENTRIES), key=str.casefold)
    assert all(target == anchor(term) for term, target in links)


def test_the_cards_follow_the_a_to_z_order_the_index_names():
    """A newcomer read the index's "A–Z:" as the cards' order, and found the cards out of it."""
    at = pages.open_page("pages/7_glossary.py")
    cards = [h.value for h in at.subheader]
    assert cards == sorted((e.term for e in ENTRIES), key=str.casefold)
    assert any("same A–Z order" in c.value for c in at.caption)


def _glossary_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/7_glossary.py")
    at.run()
    assert not at.exception
    return at


def test_cards_link_the_other_cards_terms_they_use():
    """Third read: cards used logit, top-k, all-to-all, C without a way to the card that explains them."""
    from moeviz.glossary import cross_linked
    cards = {e.term: cross_linked(e) for e in ENTRIES}
    assert "[softmax](#softmax)" in cards["Logit"] and "[router](#router)" in cards["Logit"]
    assert "[top-k](#top-k)" in cards["Dropped slot"] and "capacity factor](#capacity-factor)" in cards["Dropped slot"]
    assert "[all-to-all](#all-to-all)" in cards["Node-limited routing"]
    assert "[bf16](#bf16-and-fp32)" in cards["z-loss"]
    assert "(#router)" not in cards["Router"]  # never to itself
    assert "“ router”" in cards["Token and subword"]  # quoted text stays as it is
    assert "[d_model](glossary#d-model-and-d-hidden)" in cards["Hidden state"]  # an existing link is left alone
    for term, text in cards.items():
        for target in re.findall(r"\]\(#([a-z0-9-]+)\)", text):
            assert target in {anchor(t) for t in TERMS}, (term, target)
        assert len(re.findall(r"\]\(#", text)) == len(set(re.findall(r"\]\(#([a-z0-9-]+)\)", text))), term
    shown = [m.value for m in _glossary_page().markdown]
    assert cards["Logit"] in shown


def test_the_third_reads_card_words():
    """Nats before the entropy card, signal names unlike the card titles, LayerNorm and ε, M and node, "decoder",
    a bare "transformers 5.24", wᵢ and Eᵢ unnamed, "rounding bites" with no way to bf16."""
    text = {e.term: e.text for e in ENTRIES}
    assert "in nats (information measured with the natural log" in text["Mutual information"]
    names = [row[0] for row in HEALTH_SIGNALS]
    assert "Load balancing loss" in names and "Balance loss" not in names
    assert any(name.startswith("Dropped slot") for name in names)
    assert "LayerNorm, the older normaliser, also subtracts the vector's mean" in text["RMSNorm"]
    assert "ε is a tiny constant" in text["RMSNorm"]
    assert "M a small number the model fixes (a node is one machine" in text["Node-limited routing"]
    assert "in a decoder, a model that writes text one token at a time" in text["Attention"]
    assert all("transformers 5.24" not in t for t in text.values())
    assert sum("Hugging Face's transformers library, version 5.24" in t for t in text.values()) >= 3
    assert "Eᵢ(x) is the output of expert i (one of the chosen) for the token x, and wᵢ its combine weight" in text[
        "Combine weight"]
    assert "rounding bites: in bf16 a logit near 100 is stored only to the nearest 0.5" in text["z-loss"]


def test_bf16_rounds_a_logit_near_100_to_halves():
    """The z-loss card's number: bf16's spacing between 64 and 128 is 0.5."""
    import torch
    assert torch.tensor(100.2).to(torch.bfloat16).item() == 100.0
    assert torch.tensor(100.3).to(torch.bfloat16).item() == 100.5


@pytest.mark.parametrize("page", ["pages/7_glossary.py", "pages/6_quiz.py"])
def test_a_page_where_no_knob_acts_says_so_in_a_box(page):
    """Third read: on /quiz and /glossary the idle sliders were marked by one grey line only."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    at.run()
    assert not at.exception
    boxes = [i.value for i in at.sidebar.info]
    assert any(b.startswith("**No knob below acts on this page.**") and "keep their values for the other pages" in b
               for b in boxes), boxes


def test_the_fourth_reads_card_words():
    """Fourth read: "gate" two ways, a dropped slot vs a dropped copy, "Transformer block" undefined, olmoe-tiny
    unexplained, the balance row's "near 1" against Mixtral's k, z-loss's "not small" unexplained, expert choice's C."""
    text = {e.term: e.text for e in ENTRIES}
    assert "Not the gate matrix inside a SwiGLU expert" in text["Gate"]
    assert "what is lost is that one copy's trip to that expert" in text["Dropped slot"]
    assert "a block is attention, then this MLP" in text["Feed-forward MLP"]
    assert "a tiny model trained here" in text["Token and subword"]
    assert "very negative logits are allowed" in text["z-loss"]
    assert "(C, its capacity, is set by the capacity factor)" in text["Expert choice"]
    row = next(r for r in HEALTH_SIGNALS if r[0] == "Load balancing loss")
    assert "so there it settles near k" in row[1]
