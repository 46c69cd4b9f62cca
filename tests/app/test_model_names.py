"""One model named the same everywhere (issue 18): every shipped olmoe-tiny shown with its expert count, a note
where the sidebar's N switches to another trained model, "OLMoE's architecture, trained here" (never the family's
maker); /heatmap's mutual-information and what-if wording; /balance's untrained-then-trained layer line."""
import pytest

from moeviz.hf.shipped import display_name, family_words, shipped_olmoe
from moeviz.hf.train import MODEL_NAME, NUM_EXPERTS, model_name
from tests.app import pages


def page_text(at) -> str:
    """Every caption, markdown, title, info and warning of the page, as the reader sees it (no backslashes)."""
    parts = [e.value for kind in ("title", "caption", "markdown", "info", "warning") for e in at.get(kind)]
    return "\n".join(parts).replace("\\", "")


def test_every_shipped_variant_is_named_with_its_expert_count():
    for experts, folder in shipped_olmoe().items():
        assert display_name(folder.name) == f"{MODEL_NAME} ({experts} experts)"
        assert model_name(experts) == folder.name  # the link value stays the folder name
    assert display_name(MODEL_NAME) == f"{MODEL_NAME} ({NUM_EXPERTS} experts)"
    assert display_name("tiny-mixtral") == "tiny-mixtral"


def test_a_trained_model_has_its_familys_architecture_not_its_maker():
    info = {"family": "OLMoE (AI2)", "trained_on": "some text"}
    assert family_words(info) == "OLMoE's architecture, trained here"
    assert family_words({"family": "OLMoE (AI2)"}) == "OLMoE (AI2)"  # a loaded checkpoint keeps its family


@pytest.fixture(scope="module")
def heatmap():
    at = pages.open_page("pages/1_heatmap.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_heatmap_names_the_model_as_the_walkthrough_does(heatmap):
    text = page_text(heatmap)
    assert "olmoe-tiny (8 experts)" in text and "OLMoE's architecture, trained here" in text
    assert "AI2" not in text
    assert "each its own trained model" in text  # where the other expert counts are


def test_heatmap_mutual_information_says_when_it_reaches_ln_n(heatmap):
    text = page_text(heatmap)
    assert "reaches its ceiling, ln N, only if the top-1 choice is uniform" in text
    assert "log N = one decides the other" not in text


def test_heatmap_what_if_counts_read_plainly_and_expert_choice_is_explained_only_when_picked(heatmap):
    line = next(c for c in page_text(heatmap).splitlines() if c.startswith("Under the variant,"))
    assert "no longer get one or more" not in line and "Under expert choice" not in line
    assert "lose an expert to capacity" in line
    at = pages.open_page("pages/1_heatmap.py", {"whatif": "expert_choice"})
    assert "Under expert choice the experts pick" in page_text(at)


def test_walkthrough_at_sixteen_experts_says_it_is_another_model():
    at = pages.open_page("app.py", {"num_experts": "16"})
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "olmoe-tiny (16 experts)" in text and "Another trained model: N = 16 ships as its own model" in text
    assert "olmoe-tiny-e16" not in text  # the folder name stays in the link only
    assert at.query_params["model"] == "olmoe-tiny-e16"  # old and new links keep the folder name


def test_variants_names_the_model_and_says_when_n_switches_it():
    at = pages.open_page("pages/5_variants.py", {"num_experts": "4"})
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "olmoe-tiny (4 experts)" in text and "Another trained model: N = 4 ships as its own model" in text
    assert "picks the shipped olmoe-tiny nearest" not in text


def test_balance_layer_line_says_untrained_then_trained_here():
    at = pages.open_page("pages/2_balance.py", {"num_experts": "4", "top_k": "1"}, timeout=120)
    line = next(c for c in page_text(at).splitlines() if c.startswith("Layer on this page:"))
    assert "untrained; trained on this page" in line and "never trained" not in line
    assert "trained live" not in at.title[0].value
