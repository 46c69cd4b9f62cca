"""moeviz home page (URL /): one token through a real Mixture-of-Experts layer, in six steps.

Run with `streamlit run app.py`. This file only frames the page; the parts live in moeviz.app.
"""
from functools import partial

import streamlit as st

import moeviz.app as app
from moeviz.app.runners import build_walkthrough
from moeviz.app.trained_source import knobs_fold, knobs_used, pick_trained
from moeviz.app.walkthrough_page import n_note, pick_source, pick_token, show_answer, stepper
from moeviz.export import walkthrough_handout

controls = app.sidebar("moeviz · one token, six steps")

# In presenter mode the header is compact (the step's own heading is the page's title, the layer and sentence
# pickers and the answer fold away), so a step's heading, figure and Prev / Next fill one projector screen.
if not app.presenting():
    st.title("One token through a Mixture-of-Experts layer")
header, answer_box = st.columns(2) if app.presenting() else (st.container(), st.container())
header_box = header.expander("The layer and the sentence", icon=":material/tune:") if app.presenting() else header
with header_box:
    intro = st.container()  # the captions go above the source widgets, but are known only once they have answered
    source, side = pick_source()
    with side:
        trained = pick_trained(source, controls)
    walk = build_walkthrough(controls, source, trained)
    intro.caption(walk.caption)
    app.knobs_here("trained" if walk.trained else "random")  # which sidebar knobs act (moeviz.app.nav)
    app.layer_line(walk.layer, trained=walk.trained, where=intro)
# What the sidebar's knobs did here: in presenter mode (sidebar collapsed) it joins the folded header so that a
# step with three figures still fits a 768-px projector screen; otherwise a fold named by the N and k that ran,
# open by itself when they are not the sidebar's.
label, differs = knobs_fold(walk)
knobs_box = header_box if app.presenting() else st.expander(label, expanded=differs, icon=":material/tune:")
knobs_box.caption(knobs_used(trained, walk))
if note := n_note(trained):  # the trained default: N picks which shipped model, it builds nothing
    knobs_box.caption(note)
token = pick_token(walk.run.labels, note_where=header_box if app.presenting() else None)
with answer_box:
    show_answer(walk.run, token, folded=app.presenting())
stepper(walk, token)
st.download_button("Handout: the six steps with these numbers (HTML)", key="handout", on_click="ignore",
                   data=partial(walkthrough_handout, walk.run.trace, token, walk.run.labels, trained=walk.trained),
                   file_name="moeviz-handout.html", mime="text/html", icon=":material/description:")

app.finish_page()
