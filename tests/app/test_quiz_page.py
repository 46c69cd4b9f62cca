"""The /quiz page under AppTest: a question, a prediction, the reveal from the layer, the score."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from moeviz.quiz import NO, NONE, make_question

ROOT = Path(__file__).resolve().parents[2]


def open_quiz(q: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/6_quiz.py")
    at.query_params["q"] = str(q)
    return at.run()


def seed_of(kind: str, answer_type: str | None = None) -> int:
    return next(s for s in range(1, 200) if make_question(s).kind == kind
                and (answer_type is None or make_question(s).answer_type == answer_type))


def reveal(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Reveal the answer").click().run()
    assert not at.exception
    return at


def test_right_answer_scores_and_explains():
    seed = seed_of("every_expert", "choice")
    question = make_question(seed)
    at = open_quiz(seed)
    assert not at.exception and at.number_input(key="q").value == seed
    assert question.prompt == at.markdown[[m.value for m in at.markdown].index(question.prompt)].value
    at.radio[0].set_value(question.answer)
    reveal(at)
    assert at.success and not at.error
    assert any(question.explanation == m.value for m in at.markdown)
    assert at.metric[0].value == "1 / 1"


def test_wrong_weight_is_marked_wrong_and_score_counts_once():
    seed = seed_of("combine_weights")
    question = make_question(seed)
    at = open_quiz(seed)
    at.number_input(key=f"answer_{seed}_combine_weights").set_value(min(1.0, question.answer + 0.2))
    reveal(at)
    assert at.error and at.metric[0].value == "0 / 1"
    reveal(at)  # revealing again does not count twice
    assert at.metric[0].value == "0 / 1"


def test_reveal_without_a_prediction_is_not_called_wrong():
    seed = seed_of("combine_weights")
    at = reveal(open_quiz(seed))  # no number typed
    assert at.info and not at.error and not at.success
    assert "without a prediction" in at.info[0].value
    assert any(make_question(seed).explanation == m.value for m in at.markdown)
    assert at.metric[0].value == "0 / 1"  # it still counts as a question asked


def test_next_question_moves_on_and_updates_the_link():
    at = open_quiz(5)
    next(b for b in at.button if b.label == "Next question").click().run()
    assert not at.exception
    assert at.number_input(key="q").value == 6
    assert at.query_params["q"] == "6"


def test_kind_filter_and_no_kind():
    at = open_quiz(3)
    at.multiselect(key="quiz_kinds").set_value(["overflow"]).run()
    assert not at.exception and at.header[0].value == "Which expert overflows?"
    at.multiselect(key="quiz_kinds").set_value([]).run()
    assert not at.exception and at.info
    assert NO  # the trap's right answer is a real sentence the page offers


def test_overflow_offers_none_and_a_blank_reveal_is_no_prediction():
    seed = next(s for s in range(1, 400) if make_question(s).kind == "overflow" and not make_question(s).answer)
    at = open_quiz(seed)
    pills = at.button_group(key=f"answer_{seed}_overflow")
    assert "none" in pills.options  # the pills show the format_func labels
    assert len(at.table) == 1  # every token's choice on screen at once, not in a scroll box
    reveal(at)  # nothing picked
    assert at.info and "without a prediction" in at.info[0].value and not at.error
    at = open_quiz(seed)
    at.button_group(key=f"answer_{seed}_overflow").set_value([NONE])  # submitted with the form by reveal()
    reveal(at)
    assert at.success and at.metric[0].value == "1 / 1"


def test_a_later_kind_is_asked_by_name_and_the_default_keeps_old_numbers():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/6_quiz.py")
    at.query_params.update({"q": "5", "quiz_kinds": "alone_vs_batch"})
    at.run()
    assert not at.exception
    question = make_question(5, "alone_vs_batch")
    assert any(m.value == question.prompt for m in at.markdown)
    at.radio[0].set_value(question.answer)
    reveal(at)
    assert at.success
    old = open_quiz(5)  # no kinds in the link: the default draws from the seed, as before
    assert any(m.value == make_question(5).prompt for m in old.markdown)


def test_the_kept_weights_rule_is_in_plain_words():
    """A combine-weights question on a router that keeps the raw probabilities says so in words, not by the
    config flag's name (a learner read `norm_topk_prob = False` as code)."""
    seed = next(s for s in range(1, 400) if make_question(s).kind == "combine_weights"
                and not make_question(s).shown["normalised"])
    at = open_quiz(seed)
    assert not at.exception
    shown = "\n".join(m.value for m in (*at.markdown, *at.caption))
    assert "as they are" in shown and "without renormalising" in shown
    assert "norm_topk_prob" not in shown


def test_the_combine_weight_question_links_its_glossary_entry():
    """On the page too: the prompt a learner reads links "combine weight" to the glossary entry."""
    at = open_quiz(seed_of("combine_weights"))
    assert not at.exception
    assert any("](glossary#combine-weight)" in m.value for m in at.markdown)


def test_the_intro_says_the_layer_is_real_but_random_and_each_kind_says_what_it_asks():
    """"Each question comes from a real MoE layer run" beside "random weights (never trained)" read as a
    contradiction; "Does every expert vote?" named a kind without saying what it asks."""
    seed = seed_of("every_expert")
    at = open_quiz(seed)
    assert not at.exception
    first = at.caption[0].value
    assert "real MoE layer run" not in first
    assert "builds a small MoE layer of its own" in first and "random weights (never trained)" in first
    assert at.header[0].value == "Does every expert vote?"
    assert any(c.value.startswith("This kind of question asks: Does a token go through every expert, or only its k "
                                  "chosen ones?") for c in at.caption)
    assert "Which expert overflows? Given each token's chosen expert" in at.multiselect(key="quiz_kinds").help


def test_a_model_named_in_a_question_is_said_to_be_a_model():
    """"(Mixtral)" alone did not say what Mixtral is."""
    prompts = [make_question(s, "combine_weights").prompt for s in range(1, 40)]
    renormalising = [p for p in prompts if "**renormalises**" in p]
    as_they_are = [p for p in prompts if "**as they are**" in p]
    assert renormalising and as_they_are and not any("(Mixtral)" in p for p in prompts)
    assert all("as the open MoE model Mixtral (Mistral AI) does" in p for p in renormalising)
    assert all("open MoE models Qwen1.5/2-MoE (Alibaba) and OLMoE (AI2) do" in p for p in as_they_are)


def test_the_third_reads_words_on_quiz():
    """Third newcomer read: the parameter count could not be checked (what is an expert here?), the combine-weight
    answer did not name which k probabilities were kept, "overflows" and "vote" were never defined, and the
    question number, Next and the kinds box were three controls with no word on what they do."""
    seed = seed_of("combine_weights")
    question = make_question(seed)
    at = open_quiz(seed)
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    assert "an [MLP](glossary#feed-forward-mlp) of 2 weight matrices (16 × 32, then 32 × 16)" in line
    kept = question.shown["kept"]
    named = ", ".join(f"E{e} ({question.shown['probs'][e]:.3f})" for e in kept)
    assert f"the k = {len(kept)} kept experts are the {len(kept)} largest probabilities, {named}" in question.explanation
    reveal(at)
    assert any(question.explanation == m.value for m in at.markdown)
    captions = " ".join(c.value for c in at.caption)
    assert "The question number picks the question" in captions and "**Next question** adds 1" in captions
    overflow = open_quiz(seed_of("overflow"))
    assert "An expert **overflows** when more tokens choose it than its capacity C" in " ".join(
        c.value for c in overflow.caption)
    vote = open_quiz(seed_of("every_expert"))
    assert "(**vote**, in the question's words)" in " ".join(c.value for c in vote.caption)


def test_the_fourth_reads_words_on_quiz():
    """Fourth read: question 1 was not the first kind (the default draws the kind), "router" unlinked, capacity
    not linked where overflow is defined, and a 2-matrix expert beside Mixtral's SwiGLU without a word."""
    at = open_quiz(1)
    text = " ".join(c.value for c in at.caption)
    assert "at first the number picks that too, so question 1 can be any kind" in text
    assert "once you change **Question kinds** above, the numbers go through your kinds in turn" in text
    assert "Its experts are plain MLPs of 2 weight matrices (Mixtral's and OLMoE's have 3" in text
    question = make_question(seed_of("combine_weights"))
    assert question.prompt.startswith("[Router](glossary#router) probabilities") and "(glossary#top-k)" in question.prompt
    assert "[router](glossary#router) logits" in make_question(seed_of("which_experts")).prompt
    overflow = open_quiz(seed_of("overflow"))
    assert "set by the [capacity factor](glossary#capacity-factor)" in " ".join(c.value for c in overflow.caption)
