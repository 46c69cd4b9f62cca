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
`Controls.top_k` is the k the learner picked; `controls.moe_config()` gives the k the router runs (Switch: 1).

Every page also ends with one call (made before any st.stop() too):

    app.finish_page()   # a teacher's class room gets the view this run drew (moeviz.app.classroom)

Page-local values in the link (`text`, `token`, `step`, ...):

    text = st.text_input("Sentence", value=app.url_value("text", DEFAULT, app.parse_text(300)), key="text")
    app.set_url_value("text", text)

`url_value(key, default, parse)` reads the link (a bad value warns and gives `default`), else the value this
session last set, else `default`; `set_url_value(key, value)` remembers it and writes the link. Parsers:
`parse_int(lo, hi)`, `parse_int_choice(options)`, `parse_choice(options, renamed={old: new})` (an old word
warns and gives its new one), `parse_choices(options)` (a comma list), `parse_float_choice(options)`,
`parse_text(max_chars)`, `parse_flag` (1/0, on/off); any callable raw_str -> value that raises
`ParamError(reason)` (or returns `Renamed(value, note)`) works. Keep widget key == URL key, and put every knob
that changes what a page shows into the link.

Which layer: every page draws one `app.layer_line(cfg_or_layer, trained=..., note=...)` caption (trained or
random, d_model, d_hidden, N, k, parameters, and the sidebar knobs that act), so a learner never has to guess
where the numbers come from; a page with several layers adds one per section (`section=True`, `knobs=`).

Which knobs act: each page's PageInfo (moeviz.app.nav) declares, per view, the shared knobs that do not act on
it and why; the sidebar dims them and says why under each. A page whose view is known only later (the
walkthrough's trained model or random layer) calls `app.knobs_here(view)`; a layer with its own N and k shows
them next to the controls (`app.show_used(N, k)`, called by the page's main layer line).

Headings: a numbered section is `app.section("2 · Measured time")` (an h2 with a rule under it); a part inside
it is `app.subsection(title, key)` (an h3 drawn smaller, with no rule, so it reads as part of the section above).

Charts: draw with `app.chart(fig, key=..., where=column)` instead of `st.plotly_chart`: it names the chart for
screen readers (`alt=`, else the title), puts its numbers in a folded table below it, keeps axis text readable and
scales chart text in presenter mode, and adds the figure to the sidebar's "Figures on this page (HTML)" download
(moeviz.app.charts).

Cached runners (shared by all sessions; read-only) live in moeviz.app.runners, the app's one cache layer:
`cached_layer(cfg)` -> eval-mode MoELayer for a MoEConfig (from `controls.moe_config(...)`, the one builder);
`cached_walkthrough(cfg, source, text, vector_seed)` -> WalkthroughRun (labels, trace); `cached_dense(...)` ->
DenseRun (the every-expert runs, on demand); `runners.build_walkthrough(controls, source, lm_layer)` -> the
walkthrough's run, dense run, controls and caption for either token source; and each page's cached runs. A new
page's cached runner goes there too: keyed by primitives, its bound an entry of `runners.MAX_ENTRIES`.
"""
from moeviz.app.charts import chart
from moeviz.app.classroom import finish_page
from moeviz.app.controls import Controls, device_label, sidebar
from moeviz.app.knobs import KnobUse, knobs_here, show_used
from moeviz.app.layer_line import layer_line, layer_line_text
from moeviz.app.nav import PAGES, PageInfo
from moeviz.app.params import (ParamError, Renamed, parse_choice, parse_choices, parse_flag, parse_float_choice,
                               parse_int, parse_int_choice, parse_text)
from moeviz.app.presenter import fold, locked, presenting
from moeviz.app.runners import cached_dense, cached_layer, cached_walkthrough
from moeviz.app.style import section, subsection
from moeviz.app.url import link_params, linked, set_url_value, url_value

__all__ = [
    "chart", "sidebar", "layer_line", "layer_line_text", "locked", "presenting", "fold", "Controls", "device_label", "link_params", "linked", "url_value", "set_url_value", "ParamError",
    "Renamed", "parse_int", "parse_int_choice", "parse_choice", "parse_choices", "parse_flag", "parse_float_choice",
    "parse_text",
    "cached_layer", "cached_walkthrough", "cached_dense",
    "PAGES", "PageInfo", "KnobUse", "knobs_here", "show_used", "finish_page", "section", "subsection",
]
