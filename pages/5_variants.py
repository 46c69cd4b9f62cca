"""Router variants side by side (URL /variants): the same sentence's router scores, from the same layer of the
same trained model as the walkthrough (olmoe-tiny), turned into chosen experts by every router rule."""
from functools import partial

import streamlit as st

import moeviz.app as app
from moeviz.capacity_words import CAPACITY_FORMULA, capacity_symbols
from moeviz.app.runners import (checkpoint_model, checkpoint_routing, olmoe_layer, olmoe_noise_changes,
                                olmoe_variant_runs)
from moeviz.app.textbox import text_box
from moeviz.app.tables import all_rows_height, table
from moeviz.app.variants_text import (BIAS_HELP, NOTE_WORDS, TABLE_HOW_TO_READ, bias_caption, capacity_words,
                                      LAYER_NOTE, noise_words, sigmoid_note, weights_example)
from moeviz.app.trained_source import another_model_note, pick_olmoe, shipped_counts
from moeviz.hf.shipped import DEFAULT_MODEL, display_name
from moeviz.export import figure_html, trace_csv, trace_json
from moeviz.figures.variants import experts_per_token_figure, load_comparison, variant_heatmaps
from moeviz.glossary import LOAD_RATIO, MEASURES, glossary_link
from moeviz.lm.analysis import subword_note
from moeviz.text import DEFAULT_SENTENCE, escape_markdown
from moeviz.variants import (DEFAULT_BIAS_STEPS, MAX_BIAS_STEPS, NOISE_SEED, VARIANTS, bias_moved_picks,
                             initial_noise_std, token_changes, variant_summary)


controls = app.sidebar("moeviz · Router variants")
st.title("Router variants side by side")
# In presenter mode the sentence, the layer and their notes fold into one expander, so the first figure is on a
# 768-px projector's first screen; the teacher opens it to change the sentence.
inputs = app.fold("The sentence and the layer", icon=":material/tune:")
intro = inputs.container()  # the captions go above the layer picker, but are known only once it has answered
with inputs:
    pick = pick_olmoe(controls)
model = checkpoint_model(pick.model, pick.path)
k = max(1, min(controls.top_k, model.info()["num_experts"]))
capacity = controls.capacity_factor
intro.caption(f"Every router rule below gets the same router scores (logits): the ones MoE layer {pick.layer} of "
              f"olmoe-tiny computed for the sentence in the box below (the walkthrough's box: the same text, the same "
              "tokens). Only "
              f"the rule that turns scores into chosen experts and weights differs. olmoe-tiny's router was trained "
              "with one of them (OLMoE's: softmax → top-k, not renormalised); the others are a what-if on the same "
              "scores, showing how each rule turns them into choices, not how a router trained for that rule "
              f"would route. k = {k} (Switch always uses 1). "
              + capacity_words(capacity))
intro.caption(escape_markdown(model.describe()))
switched = f" {another_model_note(pick.model, model.info()['num_experts'])}" if pick.model != DEFAULT_MODEL else ""
inputs.caption(f"**Used here:** {display_name(pick.model, model.info()['num_experts'])} · N = "
               f"{model.info()['num_experts']} · k = {k} · capacity factor "
               f"{'off' if capacity is None else f'{capacity:g}'}. The sidebar's N picks the olmoe-tiny nearest it "
               f"(it ships with {shipped_counts()} experts, each its own trained model); not here: the router "
               "(every rule is shown), the seed (the weights are trained) and α (nothing trains on this page)."
               + switched)

with inputs:
    text = text_box("Sentence", DEFAULT_SENTENCE, help="The same text box as on / and /heatmap: the same text gives "
                    "the same tokens on every page.")
bias_steps = inputs.slider("DeepSeek bias updates before routing", 0, MAX_BIAS_STEPS, key="bias_steps",
                       value=app.url_value("bias_steps", DEFAULT_BIAS_STEPS, app.parse_int(0, MAX_BIAS_STEPS)),
                       help=BIAS_HELP)
app.set_url_value("bias_steps", bias_steps)
inputs.caption(bias_caption(bias_steps))
if not text.strip():
    st.info("Type a sentence with at least one word to route.")
    app.finish_page()
    st.stop()

routing = checkpoint_routing(pick.model, pick.path, text)
tokens = list(routing.tokens)  # labels, as every page shows them (␣ = a space)
runs = olmoe_variant_runs(pick.model, pick.path, text, pick.layer, k, capacity, bias_steps)
inputs.caption(escape_markdown(subword_note(tokens)))
moe_layer = olmoe_layer(pick.model, pick.path, pick.layer, k, capacity)
app.layer_line(moe_layer, trained=True, where=inputs, note=LAYER_NOTE)



def capacity_line(runs, factor) -> str:
    """How each row's capacity C came from this run's own T, k and N: rows with the same sum share one clause, and
    the largest group (three rules or more) comes last as "the other n rules"."""
    own = "its own factor" if factor is None else "the sidebar's factor"
    sums = {}
    for run in runs:
        cf, T, N = run.cfg.effective_capacity_factor, run.trace.num_tokens, run.cfg.num_experts
        how = ("no limit (capacity factor off)" if cf is None else
               f"C = ceil({cf:g} · {T} · {run.k} / {N}) = {run.trace.capacity} ({own})")
        sums.setdefault(how, []).append(run.variant.label)
    groups = sorted(sums.items(), key=lambda item: len(item[1]))
    clauses = []
    for i, (how, labels) in enumerate(groups):
        last_of_many = 0 < i == len(groups) - 1 and len(labels) > 2
        clauses.append(f"{f'the other {len(labels)} rules' if last_of_many else ' and '.join(labels)}: {how}")
    return (f"**How each row's capacity is set:** {CAPACITY_FORMULA} slots per expert "
            + capacity_symbols("the sentence's tokens", cf="the row's capacity factor") + ". "
            + "; ".join(clauses) + ".")


per_token = experts_per_token_figure(runs, tokens)
PER_TOKEN_NOTE = ("In the grid of experts per token, each cell prints how many experts ran for the token; its colour "
                  "is that number minus the rule's k: white is exactly k, vermillion fewer (slots dropped at "
                  "capacity, or under expert choice fewer experts picked the token), blue more (under expert "
                  "choice, more experts picked it).")
if app.presenting():  # the figure first; the rules' notes and the table fold below it
    app.chart(per_token, key="fig_per_token")
with app.fold("Who uses which rule, and what it trades"):
    st.header("Who uses which rule, and what it trades")
    for variant in VARIANTS:
        st.markdown(f"- **{variant.label}** · *{variant.model}*: {variant.note}")
    st.caption(NOTE_WORDS)
with app.fold("What each rule did to this sentence (table)"):
    st.header("What each rule did to this sentence")
    # Short headers (the long meaning in each header's tooltip): with the long ones the last columns ran past the
    # right edge even at 1920 px. The variant stays pinned while a narrow screen scrolls the rest.
    _number = st.column_config.NumberColumn
    table(variant_summary(runs), key="variant_summary", hide_index=True, column_config={
        "variant": st.column_config.TextColumn("variant", pinned=True),
        "experts/token (min–max)": st.column_config.TextColumn("experts/token",
                                                               help="Fewest–most experts that ran for any one token"),
        "mean experts/token": _number("mean", help="Mean number of experts per token"),
        "tokens with fewer than k": _number("< k", help="Tokens that got fewer than k experts"),
        "tokens with more than k": _number("> k", help="Tokens that got more than k experts (expert choice only)"),
        "tokens with no expert": _number("none", help="Tokens that got no expert at all: they skip the layer"),
        "max/mean load": _number(LOAD_RATIO, help=MEASURES[LOAD_RATIO]),
        "load CV": _number("load CV", help="Spread of the load: standard deviation ÷ mean over experts (0 = even)")})
    st.caption(TABLE_HOW_TO_READ)
    st.caption(MEASURES["load CV"])
    st.caption(capacity_line(runs, capacity))
if not app.presenting():
    app.chart(per_token, key="fig_per_token")
st.caption(PER_TOKEN_NOTE)
# Noisy top-k with its noise off would pick exactly what top-k -> softmax picks; say when the noise acts and what
# it does to this sentence, draw by draw (moeviz.variants.noise_changes).
shares = olmoe_noise_changes(pick.model, pick.path, text, pick.layer, k, capacity)
st.caption(f"**Noisy top-k** adds its noise only in training (Shazeer et al. 2017; their reference code, in "
           "Google's tensor2tensor library, turns it off at inference, where it picks exactly what top-k → softmax "
           "picks). Here it runs as in training. " + noise_words(initial_noise_std()) + f" In "
           f"{len(shares)} draws, {min(shares):.0%}–{max(shares):.0%} of the {len(tokens)} tokens got a different "
           f"set of experts than without the noise; draw {NOISE_SEED + 1} is the one shown. That is how near-miss "
           "experts get tokens, and so a training signal (gradient) to learn from, while the router learns; "
           "training also learns those noise weights, which can shrink the noise. The noise draws have their own "
           "fixed seed, apart from the sidebar's layer-weight seed (not used on this page). In its heatmap the "
           "colour is each score after the noise, so a pick can sit on a pale cell: a weak second choice.")
changes = token_changes(runs, tokens)
if changes:
    st.caption(f"Tokens that got a different number of experts than k ({len(changes)} rows, one per rule and "
               "token). Position: where the token sits in the sentence, counting from 0.")
    table(changes, key="token_changes", hide_index=True, height=all_rows_height(len(changes)),
          column_config={"token": st.column_config.NumberColumn(
              "position", help="The token's position in the sentence (0 = the first token)")})
else:
    st.caption("Every token got exactly k experts under every rule (no capacity limit bit).")

loads = load_comparison(runs)
app.chart(loads, key="fig_loads")

st.header("Router scores per rule (same 0…1 colour scale)")
st.caption("Orange outlines: the experts each token was sent to (expert choice: the experts that picked the "
           "token, since there the experts choose); dotted vermillion: chosen but dropped at capacity. Sigmoid scores do not sum to 1 per token; noisy top-k shows the scores after the noise. "
           "Softmax → top-k (renormalised or not) and top-k → softmax pick the same k experts from the same "
           "scores, so their maps look alike: they differ only in the "
           f"{glossary_link('Combine weight', 'combine weights')} of the kept experts (the "
           "walkthrough's step 3). " + weights_example(runs, tokens))
heatmaps = variant_heatmaps(runs, tokens)
# Two charts to a row, each row its own st.columns: on a phone the columns stack, and a pair (softmax → top-k
# renormalised or not) still stacks together, not one chart at the top and its twin half a page below.
for row in range(0, len(heatmaps), 2):
    for column, i in zip(st.columns(2), range(row, min(row + 2, len(heatmaps)))):
        with column:
            app.chart(heatmaps[i], key=f"fig_heatmap_{runs[i].variant.key}")
            if runs[i].trace.router_spec.selection_bias:
                st.caption(sigmoid_note(bias_steps, bias_moved_picks(runs[i]), len(tokens),
                                        [round(float(b), 2) for b in runs[i].selection_bias]))

st.header("Download")
figures = {"experts per token": per_token, "load per expert": loads,
           **{f"heatmap · {run.variant.label}": fig for run, fig in zip(runs, heatmaps)}}
left, right = st.columns(2)
with left:
    name = st.selectbox("Figure", list(figures), key="export_figure")
    chosen = figures[name]
    st.download_button("Figure as HTML (works offline)", data=partial(figure_html, chosen), file_name="moeviz-figure.html",
                       mime="text/html", icon=":material/download:", on_click="ignore")
with right:
    labels = {run.variant.key: run.variant.label for run in runs}
    key = st.selectbox("Routing trace of", list(labels), format_func=labels.get, key="export_variant")
    trace = next(run.trace for run in runs if run.variant.key == key)
    # The files hold each token's real text (token_text) beside the label the page shows (token_label).
    texts = model.token_texts(routing.token_ids)
    st.download_button("Trace as CSV", data=partial(trace_csv, trace, tokens, texts),
                       file_name=f"moeviz-trace-{key}.csv", mime="text/csv", icon=":material/table:",
                       on_click="ignore")
    st.download_button("Trace as JSON", data=partial(trace_json, trace, tokens, texts),
                       file_name=f"moeviz-trace-{key}.json", mime="application/json", icon=":material/data_object:",
                       on_click="ignore")

app.finish_page()
