"""Every view of every shipped lesson: its link passes today's link parsers unchanged (no warning, the page
writes back exactly the same link), and the page shows what the view's notes claim."""
import math

import pytest

from moeviz.app.lesson_views import page_for_url, view_result
from moeviz.lessons.folders import SHIPPED_DIR, available_lessons, open_lesson
from tests.app.pages import metrics, open_page

LESSONS = {name: open_lesson(name, available_lessons(dirs=[])) for name in
           ("top-k-routing-in-15-minutes", "load-balancing", "moe-at-scale")}
VIEWS = [(name, i) for name, lesson in LESSONS.items() for i in range(len(lesson.views))]


def _claims_walkthrough(numbers, at, view):
    assert math.isclose(sum(numbers["router_probs"]), 1.0, abs_tol=0.01)  # "probabilities that sum to 1"
    assert numbers["experts_run_count"] == 2  # "k = 2", "2 expert computations, not 8", "only 2 of the 8"
    answer = " ".join(md.value for md in at.markdown)
    assert "**2 of 8 experts run**" in answer
    assert f"“{numbers['token_text']}”" in answer
    if "“␣" in view.notes:  # the notes name the token: the one the page follows
        assert f"“{numbers['token_text']}”" in view.notes
    for expert, weight in zip(numbers["experts_run"], numbers["weights_run"]):
        assert f"expert **{expert}** (weight {weight:.3f})" in answer  # the page's numbers are the recipe's
    assert math.isclose(sum(numbers["weights_run"]), 1.0, abs_tol=0.01)  # "renormalised to sum to 1"
    assert numbers["max_mean_load"] > 1  # "the busiest expert does more than the mean"


def _claims_capacity(numbers, at, view):
    shown = metrics(at)
    assert shown["Slots per expert (C)"] == str(numbers["capacity"])
    assert shown["Dropped copies"] == f"{numbers['dropped_fraction']:.0%}"
    assert shown["Tokens that lost every expert"] == str(numbers["tokens_without_expert"])
    factor = float(view.params["capacity_factor"])
    assert numbers["capacity"] == math.ceil(factor * 32 * 2 / 8)  # the notes' formula: 6 at 0.75, 12 at 1.5
    assert numbers["dropped_copies"] > 0


def _claims_compute(numbers, at, view):
    shown = metrics(at)
    k, n = int(view.params["top_k"]), int(view.params["num_experts"])
    assert shown["Total parameters"] == f"{numbers['total_params']:,}"
    assert shown["Rule of thumb k/N"] == f"{k / n:.1%}" == f"{numbers['rule_of_thumb_share']:.1%}"  # 25 %, 12.5 %
    assert numbers["active_share"] > numbers["rule_of_thumb_share"]  # "a little more: the router"


def _claims_node_limit(numbers, at, view):
    shown = metrics(at)
    limited, free = float(shown["GPUs per token, at most 4"]), float(shown["GPUs per token, free"])
    assert limited <= 4 < free  # "more than 4 GPUs on average"; the limit caps it
    assert int(shown["Tokens whose experts did not change"].rstrip("%")) < 50  # "most tokens get some other experts"


CLAIMS = {("top-k-routing-in-15-minutes", i): _claims_walkthrough for i in range(7)}
CLAIMS.update({("load-balancing", 3): _claims_capacity, ("load-balancing", 4): _claims_capacity,
               ("moe-at-scale", 2): _claims_node_limit, ("moe-at-scale", 3): _claims_compute,
               ("moe-at-scale", 4): _claims_compute})
LINK_CLAIMS = {  # what the notes say the link sets
    ("load-balancing", 0): {"balance_weight": "0"}, ("load-balancing", 1): {"balance_weight": "0.3"},
    ("load-balancing", 2): {"balance_method": "aux_free"}, ("moe-at-scale", 0): {"workers": "4", "skew": "0.9"},
    ("moe-at-scale", 1): {"model_shape": "deepseek-v3"}, ("top-k-routing-in-15-minutes", 7): {"model": "olmoe-tiny"},
    ("top-k-routing-in-15-minutes", 6): {"misreading": "1"},
}


def test_shipped_lessons_are_listed_first():
    assert list(available_lessons())[:3] == sorted(LESSONS)
    assert all(p.parent == SHIPPED_DIR for p in available_lessons(dirs=[]).values())


@pytest.mark.slow
@pytest.mark.parametrize("name, index", VIEWS, ids=[f"{n}-{i + 1}" for n, i in VIEWS])
def test_view_passes_the_link_parsers_and_shows_its_claims(name, index):
    view = LESSONS[name].views[index]
    at = open_page(page_for_url(view.page).path, view.params, timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    link = {key: at.query_params[key][-1] if isinstance(at.query_params[key], list) else at.query_params[key]
            for key in at.query_params}
    assert link == view.params  # parsed and written back unchanged: nothing warned, fell back or was added
    for key, value in LINK_CLAIMS.get((name, index), {}).items():
        assert view.params[key] == value
    check = CLAIMS.get((name, index))
    if check:
        check(view_result(view).numbers, at, view)
