"""Router heatmap (URL /heatmap): how a trained MoE model routes each token of a text, at every MoE layer.

The model picker (`model`) offers the shipped olmoe-tiny (the default, a real OLMoE architecture), moeviz's own
tiny LM (`model=moeviz-lm`, the page's view before checkpoints), then the server's MOEVIZ_MODEL_DIRS models; a
trace file can be opened instead. The parts live in moeviz/app/checkpoints.py, checkpoint_views.py, lm_heatmap.py.
"""
import streamlit as st

import moeviz.app as app
from moeviz.app import checkpoint_views, checkpoints, lm_heatmap
from moeviz.app.heatmap_text import text_box
from moeviz.app.runners import checkpoint_routing, checkpoint_what_if, uploaded_what_if
from moeviz.hf.files import CheckpointError
from moeviz.lm.analysis import MAX_CHARS
from moeviz.text import escape_markdown

controls = app.sidebar("moeviz · Router heatmap")
st.title("Router heatmap: a trained model reads your text")
name, folder = checkpoints.model_picker()
# In presenter mode these fold, side by side: the figures come first.
upload_box, about_box = st.columns(2) if app.presenting() else (st.container(), st.container())
with upload_box, app.fold("Open a trace file instead"):
    upload = checkpoints.trace_upload()

if upload is not None:
    file_id, routing = upload
    st.info("Showing the uploaded trace (its own text and model); remove the file to route your own text.",
            icon=":material/upload_file:")
    checkpoint_views.show(routing, lambda *args: uploaded_what_if(file_id, routing, *args))
elif folder is None:
    lm_heatmap.show(controls)
elif (model := checkpoints.load_model(name, folder)) is not None:
    with about_box, app.fold("About this model"):
        st.caption("A real Hugging Face checkpoint, loaded with transformers' own model class; every number below "
                   "is read from its router logits, routed with its family's own rule.")
    text = text_box(f"Any text, at most {model.context} tokens for this model.")
    if not text.strip():
        st.info("Type a sentence above (or pick an example) to see how the model's routers send its tokens to "
                "experts.", icon=":material/edit:")
    else:
        if len(text) > MAX_CHARS:
            st.warning(f"Long text ({len(text):,} characters): only the first {MAX_CHARS:,} are routed.",
                       icon=":material/content_cut:")
        try:
            routing = checkpoint_routing(name, str(folder), text[:MAX_CHARS])
        except CheckpointError as error:
            st.warning(escape_markdown(str(error)), icon=":material/content_cut:")
        else:
            app.set_url_value("text", routing.text)
            checkpoint_views.show(routing, lambda *args: checkpoint_what_if(name, str(folder), routing.text, *args))
