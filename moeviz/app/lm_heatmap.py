"""/heatmap with `model=moeviz-lm`: the view of moeviz's own tiny language model, as the page showed it before the
checkpoint views (its links keep working: `text` and the sidebar's N, k and capacity factor apply here)."""
from __future__ import annotations

from functools import partial

import streamlit as st

from moeviz.app.charts import chart
from moeviz.app.controls import Controls
from moeviz.app.heatmap_text import crowded_note, text_box
from moeviz.app.knobs import knobs_here
from moeviz.app.layer_line import layer_line
from moeviz.app.presenter import fold
from moeviz.app.runners import shipped_summary, trained_lm, trained_routing
from moeviz.app.tables import table
from moeviz.app.url import set_url_value
from moeviz.config import ROUTER_LABELS
from moeviz.figures.heatmap import CODE_MARK, code_share_bars, layer_heatmap, layer_load_bars
from moeviz.glossary import LOAD_RATIO, MEASURES
from moeviz.lm import analysis
from moeviz.hf.shipped import DEFAULT_MODEL, describe, display_name
from moeviz.text import escape_markdown, plural

LM_NAME = "moeviz-lm"  # its name in the model picker and the link (model=moeviz-lm)
LM_LABEL = "moeviz-lm (moeviz's older LM, kept for old links)"


def show(controls: Controls) -> None:
    lm = trained_lm(controls.num_experts, controls.top_k, controls.capacity_factor)
    knobs_here("moeviz-lm")  # the sidebar's N, k and capacity act on this model (moeviz.app.nav)
    st.warning("moeviz-lm is moeviz's older model, kept so that old links show what they showed; the app's trained "
               f"model, on every other page, is {display_name(DEFAULT_MODEL)} (pick it above).",
               icon=":material/history:")
    st.caption(escape_markdown(describe(lm.info())) + " For each token of your text and each MoE layer: the "
               "router's probability for every expert, and which k experts it picked. Here the sidebar's N picks "
               "the shipped moeviz-lm nearest it (4, 8 or 16 experts), and its k and capacity factor apply.")
    _about(lm, controls)
    trained = lm.model.cfg
    text = text_box(f"Any text. The model reads at most {trained.context} tokens; lines indented by 3 or more "
                    f"spaces count as code (marked {CODE_MARK.strip()}).")
    if not text.strip():
        st.info("Type a sentence above (or pick an example) to see how the trained router sends its tokens to "
                "experts.", icon=":material/edit:")
    else:
        _routing(lm, controls, text)
    _learned(lm)


def _about(lm, controls: Controls) -> None:
    trained = lm.model.cfg
    about = fold("About this model")  # notes fold in presenter mode: the heatmaps come first
    for note in lm.notes():
        about.info(note, icon=":material/info:")
    notes = [f"Model: {lm.num_experts} experts per layer, {trained.n_layers} layers, trained with "
             f"top-{trained.top_k} and the load-balance loss (α = {trained.balance_weight:g})."]
    if lm.top_k != trained.top_k:
        notes.append(f"You picked k = {lm.top_k}: the same router probabilities now choose "
                     f"{plural(lm.top_k, 'expert')}, a combination the model never trained with.")
    if controls.router != lm.model.blocks[0].moe.cfg.router:
        notes.append(f"This model's router is softmax → top-k; the sidebar's router "
                     f"({ROUTER_LABELS[controls.router]}) applies to the random layers on other pages, not here.")
    about.caption(" ".join(notes))
    layer_line(lm.model.blocks[0].moe, trained=True,
               note=f"Each of the model's {trained.n_layers} MoE layers has this shape; attention and embeddings "
                    "sit around them")


def _routing(lm, controls: Controls, text: str) -> None:
    trained = lm.model.cfg
    routing = trained_routing(controls.num_experts, controls.top_k, controls.capacity_factor,
                              text[:analysis.MAX_CHARS])
    set_url_value("text", routing.text)
    if len(text) > analysis.MAX_CHARS or routing.cut:
        st.warning(f"Long text ({len(text):,} characters): the model reads at most {trained.context} tokens, so "
                   f"only the first {len(routing.token_ids)} tokens are routed and shown.",
                   icon=":material/content_cut:")
    T = len(routing.token_ids)
    capacity = routing.traces[0].capacity
    st.caption(f"{T} tokens. Each row is a token ({CODE_MARK.strip()} = on a line the heuristic calls code), "
               f"each column an expert; "
               f"colour = router probability on a fixed 0…1 scale; outlined cells = the top-{lm.top_k} experts "
               f"that ran. " + ("No capacity limit (sidebar: off), so every chosen expert runs." if capacity is None
                                else f"Capacity C = {capacity} slots per expert for {T} tokens; token copies "
                                     f"beyond C are dropped (dotted outline)."))
    for layer, column in enumerate(st.columns(routing.num_layers)):
        with column:
            chart(layer_heatmap(routing, layer), key=f"heatmap_{layer}")
            chart(layer_load_bars(routing, layer), key=f"load_{layer}")
            m = routing.traces[layer].metrics
            st.caption(f"Layer {layer}: load CV {m['load_cv']:.2f} (0 = even), {LOAD_RATIO} "
                       f"{m['max_mean_load']:.3f}, dropped copies {m['dropped_fraction']:.0%}.")
    st.caption(MEASURES[LOAD_RATIO] + " " + MEASURES["load CV"])
    if (note := crowded_note(range(routing.num_layers), routing.traces)) is not None:
        st.info(note, icon=":material/balance:")
    info = {"checkpoint": f"e{lm.num_experts}", "num_experts": lm.num_experts, "top_k": lm.top_k,
            "capacity_factor": controls.capacity_factor}
    left, right = st.columns(2)
    left.download_button("Routing table (CSV)", partial(analysis.routing_csv, routing), file_name="moeviz-routing.csv",
                         mime="text/csv", key="download_csv", icon=":material/download:")
    right.download_button("Trace (JSON)", partial(analysis.routing_json, routing, info),
                          file_name="moeviz-trace.json",
                          mime="application/json", key="download_json", icon=":material/download:")


def _learned(lm) -> None:
    trained = lm.model.cfg
    st.header("What did the experts learn?")
    summary = shipped_summary()
    record = summary["models"].get(f"e{lm.num_experts}")
    if record is None or "specialization" not in record:
        st.warning("No training statistics were shipped for this model.")
        return
    stats = record["specialization"]
    st.caption(f"Measured once at training time: all {stats['tokens']:,} tokens of the training text routed "
               f"with top-{trained.top_k}. The prose/code label is a heuristic (an indented line is code).")
    chart(code_share_bars(stats), key="code_share")
    with fold("How to read it"):
        for line in record["reading"]:
            st.markdown(f"- {line}")
        st.caption(MEASURES["blind router"])
    for layer, tab in enumerate(st.tabs([f"Layer {i}" for i in range(len(stats["layers"]))])):
        with tab:
            table(analysis.expert_table(stats["layers"][layer]), key=f"experts_{layer}", hide_index=True,
                  column_config={
                "expert": st.column_config.TextColumn("expert", pinned=True),
                "most frequent tokens": st.column_config.TextColumn("most frequent tokens", width="large")})
            st.caption("Most characteristic tokens of each expert: the tokens it gets far more often than it gets "
                       "tokens overall (ranked by a smoothed lift; only tokens seen at least "
                       f"{analysis.MIN_TOKEN_COUNT} times), with how often each came here out of how often it "
                       "occurs.")
            table(analysis.characteristic_table(stats["layers"][layer]), key=f"characteristic_{layer}", hide_index=True,
                  column_config={
                "expert": st.column_config.TextColumn("expert", pinned=True),
                "share sent here": st.column_config.NumberColumn("share sent here", format="percent"),
                "lift": st.column_config.NumberColumn(
                    "lift", format="%.2f", help="Share of this token's occurrences sent here ÷ this expert's "
                    "share of all tokens, smoothed (1 = no preference)")})
    st.caption(MEASURES["lift"])
    dense = summary["models"].get("dense", {}).get("val_loss")
    st.caption(f"Validation loss (nats per token, held-out topics): this model {record['val_loss']:.3f}; dense "
               f"model with the same active parameters {dense:.3f}; unigram baseline "
               f"{summary['unigram_val_loss']:.3f}." if dense is not None
               else f"Validation loss: {record['val_loss']:.3f} nats per token.")
