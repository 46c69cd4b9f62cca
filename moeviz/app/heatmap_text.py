"""/heatmap's words shared by the moeviz language model's view and the checkpoints': the text box with its example
texts, the note on layers whose load reaches the glossary's "failing" line, and the what-if's rule names and
table headers, short enough for a 390-px phone."""
from __future__ import annotations

import math

import streamlit as st

from moeviz.app.runners import chance_max_mean
from moeviz.app.textbox import text_box as shared_text_box
from moeviz.glossary import FAILING_MAX_MEAN_LOAD, LOAD_RATIO, MEASURES, glossary_link
from moeviz.load_health import crowded_layers
from moeviz.text import escape_markdown
from moeviz.variants import VARIANTS

DEFAULT_TEXT = 'The "for" statement repeats its suite for each item:\n   for i in range(3): print(i)'
EXAMPLE_TEXTS = {  # the example picker's texts (not moeviz.presets' classroom presets)
    "Prose and a line of code": DEFAULT_TEXT,
    "Plain English": "The weather was calm, so we walked along the river and talked about old friends.",
    "Python code": "   def area(width, height):\n       return width * height\n\n   print(area(3, 4))",
    "Docs sentence": "An iterator is created for the result of the expression, and the suite is executed once "
                     "for each item provided by the iterator.",
    "HTML markup": '<p>Press <kbd>Ctrl</kbd>+<kbd>S</kbd> to <a href="#save">save the file</a>.</p>',
    "Other scripts and emoji": "Routing 🙂 works on bytes: مرحبا بالعالم, 你好, Ünïcödé.",
}


def text_box(help: str) -> str:
    """/heatmap's "Text to route" area and its example picker (moeviz.app.textbox)."""
    return shared_text_box("Text to route", DEFAULT_TEXT, help=help, multiline=True, presets=EXAMPLE_TEXTS)


# The trace-file uploader's first line: what a trace file is, before the learner is asked for one.
TRACE_FILE_MEANS = ("A trace file is a JSON file that records one routed text: its tokens and, at every MoE layer, "
                    "the router's scores and the experts it picked. This page saves one (“Trace (JSON)” at the "
                    "bottom); opening it here shows that routing again, without loading the model.")


def family_rule_note(info: dict) -> str:
    """The end of the model's line: the rule of its family, named (from a model's info(): "family", "rule"), and
    what the rule gives, linked to the glossary's combine weight."""
    family, rule = str(info.get("family") or "").split(" (")[0], info.get("rule")  # "OLMoE", not "OLMoE (AI2)":
    # a model trained here is not its maker's
    named = (f"with the routing rule of its model family, {escape_markdown(str(family))}: "
             f"{escape_markdown(str(rule))}" if family and rule else "with its model family's own routing rule")
    return (f"routed {named}. The rule picks each token's experts ({glossary_link('Top-k', 'top-k')}: the k "
            "with the highest scores) and their "
            f"{glossary_link('Combine weight', 'combine weights')} (how much each expert's output counts). "
            + RENORMALISED_MEANS)


# "renormalised" / "not renormalised", the words of the rules' names, in plain words.
RENORMALISED_MEANS = ("Renormalised: the k kept probabilities are rescaled to sum to 1 before they become the "
                      "weights; not renormalised: they are used as they are, so they sum to less than 1.")


def crowded_note(layers, traces) -> str | None:
    """Markdown naming the layers whose max/mean load is at or past the glossary's "failing" line, with what chance
    alone reaches on as few tokens (few token copies per expert); None when no layer reaches the line."""
    crowded = crowded_layers(layers, traces)
    if not crowded:
        return None
    T, k, N = traces[0].num_tokens, traces[0].top_k, traces[0].num_experts
    chance = chance_max_mean(T, k, N)
    above = [f"layer {layer}" for layer, value in crowded if value > chance]
    verdict = (f"{', '.join(above)} {'is' if len(above) == 1 else 'are'} above that: "
               f"{'its router favours' if len(above) == 1 else 'their routers favour'} some experts on this text"
               if above else "chance alone gets there at this length, so this says nothing "
               "about the router yet")
    named = ", ".join(f"layer {layer} ({value:.3f})" for layer, value in crowded)  # as the table: three decimals
    return (f"**At or past the glossary's “failing” line** ({LOAD_RATIO} of {FAILING_MAX_MEAN_LOAD:g} or more): "
            f"{named}. On a short text that is weak evidence: {T} tokens with k = {k} of N = {N} experts give the "
            f"average expert {T * k / N:.3g} token copies, so a few more on one expert move the ratio a lot, and a "
            f"router picking experts at random reaches {chance:.2f} on average at this length; {verdict}. The line "
            "is meant for statistics over many tokens (a training batch, a day of serving): a longer text shows "
            "whether the skew stays. A tiny or briefly trained model may also not have evened out its load yet.")


# The what-if's rule box names the rule alone: with its model family and "· this model's rule" it ran past the box
# on a 390-px phone and was cut. Who routes with the rule, and whether this model does, go in the line under it.
_VARIANTS = {v.key: v for v in VARIANTS}


def variant_option(key: str) -> str:
    """The rule box's text for variant `key`."""
    return _VARIANTS[key].label


def variant_note(key: str, own: str) -> str:
    """The line under the rule box: who routes with the picked rule, and whether this model does (`own`: the key
    of the rule the model itself routes with)."""
    variant = _VARIANTS[key]
    whose = "This model's own rule." if key == own else f"This model's own rule is {_VARIANTS[own].label}."
    words = f" {RENORMALISED_MEANS}" if "renormalised" in variant.label else ""
    return f"**{variant.label}**, as in {variant.model}. {whose}{words}"


def what_if_counts(num_tokens: int, not_chosen: int, gained: int, dropped: int, limit: str) -> str:
    """The what-if's counts in one plain sentence, capacity first: "9 of 33 tokens lose an expert to capacity
    (C = …); none changes experts otherwise." `limit` says the capacity (" (C = 3 slots per expert)")."""
    capacity = (f"{dropped} of {num_tokens} tokens lose an expert to capacity{limit}: a dropped copy skips that "
                "expert (dotted outline); the token keeps its other experts, and one that lost them all is carried "
                f"on by the {glossary_link('Residual path', 'residual path')} alone" if dropped else f"No token loses an expert to capacity{limit}")
    if not_chosen or gained:
        other = (f"{not_chosen} of {num_tokens} no longer get an expert the model chose and {gained} get one it "
                 "did not choose")
    else:
        other = "none changes experts otherwise"
    return f"Under the variant, {capacity[0].lower()}{capacity[1:]}; {other}."


# Shown only while expert choice is the picked rule: it explains how that rule's losses are counted and drawn.
EXPERT_CHOICE_NOTE = ("Under expert choice the experts pick: an expert that did not pick a token counts as dropped "
                      "for it, and where the model had run that expert for the token its cell gets the same dotted "
                      "outline.")


# The what-if table's columns, the ones its caption talks about first: the token's text, then what it lost and
# gained; the token's position last. At 390 px the last ones ran out of view (the table scrolls sideways).
WHAT_IF_COLUMNS = ("text", "lost (not chosen)", "lost (dropped)", "gained", "token")


def what_if_columns() -> dict:
    """st.dataframe's column_config for the what-if table: short headers, the caption's words in each tooltip."""
    text = st.column_config.TextColumn
    return {"text": text("text", pinned=True, help="The token, as the heatmap labels it (␣ = a space)"),
            "lost (not chosen)": st.column_config.ListColumn(
                "not chosen", help="Lost: experts the model ran for this token that the variant does not choose"),
            "lost (dropped)": st.column_config.ListColumn(
                "dropped", help="Lost: experts the variant chose for this token whose slot capacity "
                                       "dropped (expert choice: experts that did not pick it)"),
            "gained": st.column_config.ListColumn("gained", help="Experts the variant runs that the model did not"),
            "token": st.column_config.NumberColumn("position", help="The token's position in the text (0 = first)")}


def entropy_note(traces) -> str:
    """The all-layers table's "entropy" in words, with ln N for this model's N (the value of a uniform router)."""
    uniform = " and ".join(f"ln {n} = {math.log(n):.2f}" for n in sorted({t.num_experts for t in traces}))
    return (f"Entropy: the mean over tokens of each token's {glossary_link('Router entropy', 'router entropy')}, "
            f"how spread its router probabilities are, in nats (entropy measured with the natural log, ln; 0 = all "
            f"on one expert; {uniform} would be uniform).")


def layer_summary_columns() -> dict:
    """st.dataframe's column_config for the table of all layers: short headers so its five columns fit a phone."""
    def number(label, help):  # three decimals in every cell (1.610, not 1.61 beside 1.626)
        return st.column_config.NumberColumn(label, help=help, format="%.3f")
    # "busiest ÷ mean", the name without its last word: with the whole name the five columns ran 11 px past a
    # 390-px phone's screen; the help and the caption under the table give the name whole.
    return {"max/mean load": number(LOAD_RATIO.removesuffix(" load"), help=MEASURES[LOAD_RATIO]),
            "load CV": number("load CV", help="Load CV: the spread of the experts' token counts ÷ their mean "
                                              "(0 = even)"),
            "router entropy": number("entropy", help="Router entropy: the mean over tokens of each token's router "
                                                     "entropy, in nats (ln N = uniform, 0 = one expert)"),
            "balance loss": number("bal. loss", help="Load-balance loss N · Σ f_i · P_i (Switch Transformer): 1 "
                                                     "at perfect balance, though not a floor")}
