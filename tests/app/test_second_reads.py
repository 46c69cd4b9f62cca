"""Words the third round of newcomer reads (December 2026, screenshots only) asked for, one test per page: each
checks the sentence a reader could not find before, on the page as it opens."""
import pytest

from tests.app.pages import open_page


def _texts(at) -> str:
    main = [getattr(n, "value", "") for n in at.main if isinstance(getattr(n, "value", None), str)]
    helps = [getattr(w, "help", "") or "" for w in (*at.main.get("select_slider"), *at.main.get("selectbox"))]
    return "\n".join(main + helps)


@pytest.fixture(scope="module")
def replicas():
    at = open_page("pages/8_replicas.py")
    assert not at.exception
    return _texts(at)


def test_replicas_says_its_sources_layer_scope_and_expert_size(replicas):
    assert "Three sources: a made-up dump built in; a dump you upload" in replicas  # "Checkpoint" unexplained
    assert "The MoE layer sections 2, 3 and 4 show" in replicas  # which sections the Layer slider moves
    assert "A dump records which experts ran, not how large they are" in replicas  # why a Mixtral size
    assert "Its own GPUs and R, starting at section 3's layout" in replicas  # section 7's controls are its own


def test_replicas_balancedness_delta_names_what_it_is_measured_from():
    at = open_page("pages/8_replicas.py")
    metric = next(m for m in at.main.metric if m.label == "Balancedness")
    assert str(metric.proto.delta).endswith("in blocks")  # the block layout, not "no replicas"


def test_variants_grid_says_vermillion_is_not_always_a_drop():
    at = open_page("pages/5_variants.py")
    text = _texts(at)
    assert "or under expert choice fewer experts picked the token" in text
    # a fourth read took the table for a fair contest of rules: the router was trained for one of them
    assert "olmoe-tiny's router was trained with one of them (OLMoE's: softmax → top-k, not renormalised)" in text
    assert "so that rule's even load here is a best case" in text


def test_balance_says_entropy_is_sureness_and_gives_alphas_range():
    at = open_page("pages/2_balance.py", timeout=240)
    text = _texts(at)
    assert "It measures how sure the router is about each token, not how even the load is" in text
    assert "past the sidebar's range (0 to 1)" in text
    assert "it dips a little below 1 when the experts that get more than their share of copies" in text
    assert "([ST-MoE](glossary#moe-papers-and-libraries), Zoph et al. 2022)" in text  # ST-MoE never expanded
    assert "logsumexp(router [logits](glossary#logit))²" in text


def test_the_walkthroughs_random_source_says_it_has_no_words():
    at = open_page("app.py")
    radio = at.main.radio(key="source")
    assert "Random vectors (no words)" in radio.options
