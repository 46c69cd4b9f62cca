"""Capacity and dropped copies; expert parallelism on real worker processes; the communication model."""
import streamlit as st

import moeviz.app as app
from moeviz.app import parallel_page as sections

controls = app.sidebar("moeviz · Capacity & parallelism")
st.title("Capacity, dropped copies, and experts on separate GPUs")
batch = sections.capacity(controls)  # section 1's batch: sections 4 and 5 route the same tokens
sections.expert_parallel(controls)
sections.at_scale()
sections.dropless(controls, batch)
sections.inference(controls, batch)
sections.device_limit(controls)

app.finish_page()
