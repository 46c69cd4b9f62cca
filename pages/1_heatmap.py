"""Router heatmap (URL /heatmap): how a trained MoE model routes each token of a text, at every MoE layer.

The model picker (`model`) offers the shipped olmoe-tiny models (the default, the walkthrough's model), moeviz's
older LM (`model=moeviz-lm`, kept for old links), then the server's MOEVIZ_MODEL_DIRS models; a trace file can be
opened instead. The parts live in moeviz/app/checkpoints.py, checkpoint_views.py, lm_heatmap.py.
"""
from dataclasses import replace

import streamlit as st

import moeviz.app as app
from moeviz.app import checkpoint_views, checkpoints, lm_heatmap
from moeviz.app.heatmap_text import TRACE_FILE_MEANS, family_rule_note, text_box
from moeviz.app.runners import checkpoint_routing, checkpoint_what_if, uploaded_what_if
from moeviz.app.trained_source import shipped_counts
from moeviz.glossary import glossary_link
from moeviz.hf.files import CheckpointError
from moeviz.hf.shipped import describe
from moeviz.lm.analysis import subword_note
from moeviz.text import escape_markdown

controls = app.sidebar("moeviz · Router heatmap")
st.title("Router heatmap: a model reads your text")
# In presenter mode the model, the text and their notes fold into one expander, so the first figure is on the
# projector's first screen (768 px high too); the teacher opens it to type new text.
inputs = app.fold("Model and text to route", icon=":material/tune:")
# The upload comes first so the picker knows whether it is in use. In presenter mode these fold side by side.
with inputs:
    upload_box, about_box = st.columns(2) if app.presenting() else (st.container(), st.container())
picker = upload_box.container()
with upload_box, app.fold("Open a trace file instead"):
    st.caption(TRACE_FILE_MEANS)
    upload = checkpoints.trace_upload()
with picker:
    name, folder = checkpoints.model_picker(uploaded=upload is not None)


def knobs_line(routing) -> None:
    """What this page's numbers use, unfolded next to the controls: the model's own N and k, not the sidebar's."""
    first = routing.traces[0]
    st.caption(f"**Used here:** N = {first.num_experts} · k = {first.top_k}, the model's own. The sidebar's N, "
               "k, α, router, seed and capacity factor do not act on this page: the model routes with its own "
               f"rule and sizes (the what-if below has its own {glossary_link('Capacity factor', 'capacity factor')}). "
               "olmoe-tiny ships with "
               f"{shipped_counts()} experts, each its own trained model: pick one in the Model list. "
               + WALKTHROUGH_PICKS)


# How the walkthrough uses the sidebar, the other way round from this page (knobs_line).
WALKTHROUGH_PICKS = ("The walkthrough (the home page) works the other way round: there the sidebar's N picks the "
                     "olmoe-tiny with the nearest number of experts, and the sidebar's k and capacity factor apply "
                     "to it.")


if upload is not None:
    file_id, routing = upload
    # a file's claims about its model are not checked: never call its weights trained
    routing = replace(routing, model_info={**routing.model_info, "uploaded": True, "trained_on": ""})
    st.info("Showing the uploaded trace (its own text and model); remove the file to route your own text.",
            icon=":material/upload_file:")
    st.caption(escape_markdown(describe({**routing.model_info, "name": routing.model_name or None})))
    knobs_line(routing)
    checkpoint_views.show(routing, lambda *args: uploaded_what_if(file_id, routing, *args))
elif folder is None:
    lm_heatmap.show(controls)
elif (model := checkpoints.load_model(name, folder)) is not None:
    with about_box:
        st.caption(escape_markdown(model.describe()) + " Every number below is read from its router logits (the router's raw scores, one per expert, before the "
                   "softmax; [more](glossary#logit)), "
                   + family_rule_note(model.info()))
    with inputs:
        text = text_box(f"Any text. {model.name} reads {model.context} tokens at once; a longer text is routed "
                        f"in windows of {model.context} tokens, each read on its own.")
    if not text.strip():
        st.info("Type a sentence above (or pick an example) to see how the model's routers send its tokens to "
                "experts.", icon=":material/edit:")
    else:
        try:
            routing = checkpoint_routing(name, str(folder), text)
        except CheckpointError as error:
            st.warning(escape_markdown(str(error)), icon=":material/content_cut:")
        else:
            knobs_line(routing)
            T = len(routing.token_ids)
            if T > model.context:
                st.info(f"{T:,} tokens, more than the {model.context} {model.name} reads at once: routed in "
                        f"{len(model.windows(T))} windows of at most {model.context} tokens. Each window reads "
                        "only itself (attention starts afresh at its first token), as if it were a text of its "
                        "own.", icon=":material/view_week:")
            with inputs:
                st.caption(escape_markdown(subword_note(routing.tokens)))
            checkpoint_views.show(routing, lambda *args: checkpoint_what_if(name, str(folder), routing.text, *args))

app.finish_page()
