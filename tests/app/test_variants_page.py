"""The /variants page under AppTest: runs, follows the sentence and the shared controls."""

from streamlit.testing.v1 import AppTest

from tests.app import pages

PAGE = "pages/5_variants.py"


def open_page(**params) -> AppTest:
    return pages.open_page(PAGE, params, timeout=60)


def summary(at):
    return at.dataframe[0].value


def test_page_runs_and_lists_every_variant():
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "Router variants side by side"
    table = summary(at)
    assert len(table) == 7
    assert list(table["model"])[0].startswith("Mixtral")
    notes = " ".join(m.value for m in at.markdown)
    for model in ("Mixtral", "OLMoE", "GPT-OSS", "DeepSeek-V3", "Switch Transformer", "Expert Choice"):
        assert model in notes


def test_switch_in_the_sidebar_does_not_set_k_for_the_other_rules():
    at = open_page(router="switch", top_k="3")
    assert not at.exception
    assert "k = 3 (Switch always uses 1)" in at.caption[0].value


def test_sentence_and_controls_move_the_outputs():
    at = open_page(text="one two three four five six seven eight nine ten", capacity_factor="0.5")
    assert not at.exception
    tight = summary(at)
    assert tight["tokens with fewer than k"].sum() > 0  # capacity 0.5 must drop somewhere
    assert at.text_input(key="text").value.startswith("one two")
    at.text_input(key="text").set_value("just three words").run()
    assert not at.exception
    assert at.query_params["text"] == "just three words"
    assert list(summary(at)["capacity"])[0] != list(tight["capacity"])[0]  # fewer tokens, smaller C


def test_empty_sentence_gets_a_message_not_an_error():
    at = open_page()
    at.text_input(key="text").set_value("   ").run()
    assert not at.exception
    assert any("at least one word" in i.value for i in at.info)


def test_noisy_topk_says_when_its_noise_acts_and_what_it_changes():
    """At the default sentence the noisy rule showed exactly top-k → softmax's choice: the noise was off."""
    at = open_page()
    assert not at.exception
    note = next(c.value for c in at.caption if c.value.startswith("**Noisy top-k**"))
    assert "only in training" in note and "at inference" in note
    low = int(note.split(" draws, ")[1].split("%")[0])
    assert low > 0  # every draw moves some token's experts
    table = summary(at)
    rows = dict(zip(table["variant"], table["load CV"]))
    assert rows["noisy top-k"] != rows["top-k → softmax"]  # the noisy run differs from the clean rule's


def test_the_per_token_grid_and_the_alike_maps_are_explained():
    """A newcomer read counts in the cells and a 'vs k' colour, and saw three rules' maps look the same
    without being told why."""
    import json
    at = open_page()
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "minus the rule's k" in captions and "differ only in the [combine weights](glossary#combine-weight)" \
        in captions
    grid = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0].get("name") == "experts per token")
    assert grid["data"][0]["colorbar"]["title"]["text"] == "experts − k"


def test_each_rows_capacity_is_worked_out_from_the_runs_own_numbers():
    """The table showed C = 6 for expert choice and 4 for Switch while the page said capacity factor off: a line
    says how each row's C comes from T, k and N, and every sum it prints is the one the table shows."""
    import math
    import re
    from moeviz.app.runners import checkpoint_routing
    from moeviz.config import DEFAULT_EXPERT_CHOICE_CAPACITY, DEFAULT_SWITCH_CAPACITY
    from moeviz.hf.shipped import nearest_olmoe
    from moeviz.text import DEFAULT_SENTENCE
    name, folder = nearest_olmoe(8)  # the sidebar's default N picks it
    routing = checkpoint_routing(name, str(folder), DEFAULT_SENTENCE)
    T, N = len(routing.token_ids), routing.traces[0].num_experts
    for params, factors in (({}, {DEFAULT_SWITCH_CAPACITY, DEFAULT_EXPERT_CHOICE_CAPACITY}),
                            ({"capacity_factor": "1.5"}, {1.5})):
        at = open_page(**params)
        assert not at.exception
        line = next(c.value for c in at.caption if c.value.startswith("**How each row's capacity is set:**"))
        sums = re.findall(r"C = ceil\(([\d.]+) · (\d+) · (\d+) / (\d+)\) = (\d+)", line)
        table = summary(at)
        assert {float(cf) for cf, *_ in sums} == factors
        assert {(int(t), int(n)) for _, t, _, n, _ in sums} == {(T, N)}  # this sentence's tokens, this model's N
        assert all(math.ceil(float(cf) * int(t) * int(k) / int(n)) == int(c) for cf, t, k, n, c in sums)
        assert {c for *_, c in sums} == {c for c in table["capacity"] if c != "no limit"}
        assert ("no limit (capacity factor off)" in line) == ("no limit" in set(table["capacity"]))


def test_who_uses_which_rule_speaks_plain_words_not_code_names():
    """A newcomer met routed_scaling_factor, norm_topk_prob, W_noise and tensor2tensor with no explanation."""
    at = open_page()
    assert not at.exception
    shown = "\n".join(m.value for m in (*at.markdown, *at.caption))
    for name in ("routed_scaling_factor", "norm_topk_prob", "W_noise"):
        assert name not in shown
    assert "Google's tensor2tensor library" in shown  # named, and said what it is
    assert "a fixed factor of 2.5" in shown and "a switch in its config" in shown
