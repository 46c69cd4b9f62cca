"""moeviz home page (URL /): one token through a real Mixture-of-Experts layer, in six steps.

Run with `streamlit run app.py`. This file only frames the page; the parts live in moeviz.app.
"""
from functools import partial

import streamlit as st

import moeviz.app as app
from moeviz.app.trained_source import pick_trained
from moeviz.app.walkthrough_page import pick_source, pick_token, show_answer, stepper
from moeviz.export import walkthrough_handout

controls = app.sidebar("moeviz · one token, six steps")

st.title("One token through a Mixture-of-Experts layer")
intro = st.empty()

source = pick_source()
trained, dense = pick_trained(source, controls), None
if trained is None:
    intro.caption(f"A real PyTorch MoE layer with random weights (seed {controls.seed}): {controls.num_experts} "
                  f"experts, top-{controls.top_k} routing. Every number on this page is read from the layer's own "
                  "tensors. Change the layer in the sidebar.")
    run = app.walkthrough_for(controls, source.source, source.text, source.vector_seed)
else:
    intro.caption(trained.caption)
    run, dense, controls = trained.run, trained.dense, trained.controls
token = pick_token(run.labels)
show_answer(run, token, controls)
stepper(run, token, controls, source, dense)
st.download_button("Handout: the six steps with these numbers (HTML)", key="handout", on_click="ignore",
                   data=partial(walkthrough_handout, run.trace, token, run.labels), file_name="moeviz-handout.html",
                   mime="text/html", icon=":material/description:")
