"""The Streamlit side of moeviz: shared sidebar, link-backed values, cached runners. (The core never imports this.)

Every page (app.py and pages/N_name.py) starts with one call:

    import streamlit as st
    import moeviz.app as app

    controls = app.sidebar("moeviz · Router heatmap")   # draws links + layer controls, returns Controls
    cfg = controls.moe_config(d_model=32, d_hidden=64)    # a validated MoEConfig (k already fits N and router)

`Controls` (frozen): num_experts, top_k, router, balance_weight, capacity_factor (None = no limit), seed, device
(a label), plus .moe_config(**fields). Shared values start from the link on a session's first run (a bad value
shows a short warning and falls back), go back into the link every run, and travel with the sidebar's
st.page_link to the next page. A page's own st.page_link should pass `query_params=app.link_params()`.
With router "switch", Controls.top_k is 1 while the link keeps the k the learner chose.

Page-local values in the link (`text`, `token`, `step`, ...):

    text = st.text_input("Sentence", value=app.url_value("text", DEFAULT, app.parse_text(300)), key="text")
    app.set_url_value("text", text)

`url_value(key, default, parse)` reads the link (a bad value warns and gives `default`), else the value this
session last set, else `default`; `set_url_value(key, value)` remembers it and writes the link. Parsers:
`parse_int(lo, hi)`, `parse_int_choice(options)`, `parse_choice(options)`, `parse_choices(options)` (a comma list),
`parse_float_choice(options)`, `parse_text(max_chars)`, `parse_flag` (1/0, on/off); any callable raw_str -> value
that raises `ParamError(reason)` works. Keep widget key == URL key, and put every knob that changes what a page
shows into the link.

Charts: draw with `app.chart(fig, key=..., where=column)` instead of `st.plotly_chart`: it names the chart for
screen readers (`alt=`, else the title), puts its numbers in a folded table below it, keeps axis text readable and
scales chart text in presenter mode, and adds the figure to the sidebar's "Figures on this page (HTML)" download
(moeviz.app.charts).

Cached runners (shared by all sessions; read-only): `cached_layer(num_experts, top_k, router, capacity_factor,
seed, d_model=32, d_hidden=64)` -> eval-mode MoELayer; `walkthrough_for(controls, source, text, vector_seed)`
-> WalkthroughRun (labels, trace); `dense_for(...)` -> DenseRun (the every-expert runs, on demand).
Add a page's own cached runner beside them with `st.cache_resource(max_entries=...)` keyed by primitives.
"""
from moeviz.app.charts import chart
from moeviz.app.controls import Controls, device_label, sidebar
from moeviz.app.nav import PAGES, PageInfo, existing_pages
from moeviz.app.params import (ParamError, parse_choice, parse_choices, parse_flag, parse_float_choice, parse_int,
                               parse_int_choice, parse_text)
from moeviz.app.presenter import locked
from moeviz.app.runners import cached_dense, cached_layer, cached_walkthrough, dense_for, walkthrough_for
from moeviz.app.url import link_params, set_url_value, url_value

__all__ = [
    "chart", "sidebar", "locked", "Controls", "device_label", "link_params", "url_value", "set_url_value", "ParamError",
    "parse_int", "parse_int_choice", "parse_choice", "parse_choices", "parse_flag", "parse_float_choice", "parse_text",
    "cached_layer", "cached_walkthrough", "walkthrough_for", "cached_dense", "dense_for",
    "PAGES", "PageInfo", "existing_pages",
]
