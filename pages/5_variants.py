"""Router variants side by side (URL /variants): the same sentence routed by every gating rule."""
from functools import partial

import streamlit as st

import moeviz.app as app
from moeviz.app.runners import variant_runs
from moeviz.config import DEFAULT_EXPERT_CHOICE_CAPACITY, DEFAULT_SWITCH_CAPACITY
from moeviz.export import figure_html, trace_csv, trace_json
from moeviz.glossary import MEASURES
from moeviz.figures.variants import experts_per_token_figure, load_comparison, variant_heatmaps
from moeviz.text import DEFAULT_SENTENCE, split_tokens
from moeviz.variants import DEFAULT_BIAS_STEPS, VARIANTS, token_changes, variant_summary

MAX_BIAS_STEPS = 50


controls = app.sidebar("moeviz · Router variants")
st.title("Router variants side by side")
st.caption("Every gating rule below gets the same tokens and a layer with the same seed, so the router's raw "
           "scores (logits) are identical; only the rule that turns scores into chosen experts and weights "
           f"differs. Layer: {controls.num_experts} experts, k = {controls.top_k} (Switch always uses 1), "
           "capacity factor " + (f"{controls.capacity_factor:g}." if controls.capacity_factor is not None else
                                 f"off (Switch still uses {DEFAULT_SWITCH_CAPACITY:g}, its training factor, here at "
                                 f"inference too; expert choice {DEFAULT_EXPERT_CHOICE_CAPACITY:g})."))

text = st.text_input("Sentence", value=app.url_value("text", DEFAULT_SENTENCE, app.parse_text(300)), key="text",
                     max_chars=300, disabled=app.locked("text"))
app.set_url_value("text", text)
bias_steps = st.slider("DeepSeek bias updates before routing", 0, MAX_BIAS_STEPS, key="bias_steps",
                       value=app.url_value("bias_steps", DEFAULT_BIAS_STEPS, app.parse_int(0, MAX_BIAS_STEPS)),
                       help="The sigmoid router's selection bias starts at zero and is nudged towards even load "
                            "once per step; this replays that many steps on this sentence.")
app.set_url_value("bias_steps", bias_steps)
if not split_tokens(text):
    st.info("Type a sentence with at least one word to route.")
    st.stop()

tokens, runs = variant_runs(text, controls.num_experts, controls.top_k, controls.seed,
                            controls.capacity_factor, bias_steps)

app.layer_line(runs[0].cfg, trained=False,
               note="One such layer per rule, all with the same seed and so the same weights"
                    + ("; Switch runs it with k = 1" if any(run.k != runs[0].k for run in runs) else ""))

per_token = experts_per_token_figure(runs, tokens)
if app.presenting():  # the figure first; the rules' notes and the table fold below it
    app.chart(per_token, key="fig_per_token")
with app.fold("Who uses which rule, and what it trades"):
    st.header("Who uses which rule, and what it trades")
    for variant in VARIANTS:
        st.markdown(f"- **{variant.label}** · *{variant.model}*: {variant.note}")

with app.fold("What each rule did to this sentence (table)"):
    st.header("What each rule did to this sentence")
    # Short headers (the long meaning in each header's tooltip): with the long ones the last columns ran past the
    # right edge even at 1920 px. The variant stays pinned while a narrow screen scrolls the rest.
    _number = st.column_config.NumberColumn
    st.dataframe(variant_summary(runs), hide_index=True, column_config={
        "variant": st.column_config.TextColumn("variant", pinned=True),
        "experts/token (min–max)": st.column_config.TextColumn("experts/token",
                                                               help="Fewest–most experts that ran for any one token"),
        "mean experts/token": _number("mean", help="Mean number of experts per token"),
        "tokens with fewer than k": _number("< k", help="Tokens that got fewer than k experts"),
        "tokens with more than k": _number("> k", help="Tokens that got more than k experts (expert choice only)"),
        "tokens with no expert": _number("none", help="Tokens that got no expert at all: they skip the layer"),
        "max/mean load": _number("max/mean", help="Busiest expert's tokens ÷ the mean over experts (1 = even)"),
        "load CV": _number("load CV", help="Spread of the load: standard deviation ÷ mean over experts (0 = even)")})
    st.caption(MEASURES["load CV"])
if not app.presenting():
    app.chart(per_token, key="fig_per_token")
changes = token_changes(runs, tokens)
if changes:
    st.caption("Tokens that got a different number of experts than k:")
    st.dataframe(changes, hide_index=True)
else:
    st.caption("Every token got exactly k experts under every rule (no capacity limit bit).")

loads = load_comparison(runs)
app.chart(loads, key="fig_loads")

st.header("Router scores per rule (same 0…1 colour scale)")
st.caption("Orange outlines: the experts each token was sent to (expert choice: the experts that picked the "
           "token, since there the experts choose); dotted vermillion: chosen but dropped at capacity. Sigmoid scores do not sum to 1 per token; noisy top-k shows the scores after the noise.")
heatmaps = variant_heatmaps(runs, tokens)
columns = st.columns(2)
for i, fig in enumerate(heatmaps):
    with columns[i % 2]:
        app.chart(fig, key=f"fig_heatmap_{runs[i].variant.key}")

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
    st.download_button("Trace as CSV", data=partial(trace_csv, trace, tokens), file_name=f"moeviz-trace-{key}.csv",
                       mime="text/csv", icon=":material/table:", on_click="ignore")
    st.download_button("Trace as JSON", data=partial(trace_json, trace, tokens),
                       file_name=f"moeviz-trace-{key}.json", mime="application/json", icon=":material/data_object:",
                       on_click="ignore")
