"""Sparse vs dense: parameters stored vs used, FLOPs per token, and measured time."""
import streamlit as st

import moeviz.app as app
from moeviz.app import compute_page as sections

controls = app.sidebar("moeviz · Sparse vs dense compute")
st.title("Sparse vs dense: what a token really costs")
layer = sections.page_layer(controls)
sections.page_line(layer)
sections.counts(layer)
sections.whole_model()
timed = sections.measured_time(layer)
sections.scaling_sweeps(layer, timed.device)
sections.granularity(layer, timed)

app.finish_page()
