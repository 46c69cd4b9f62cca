"""Glossary (URL /glossary): the terms a learner meets, each linked to the page that shows it."""
import streamlit as st

import moeviz.app as app
from moeviz.glossary import ENTRIES, HEALTH_SIGNALS, anchor

controls = app.sidebar("moeviz · Glossary")
st.title("Glossary")
st.caption("Short definitions in plain words. Where a page of this app shows the idea with a real layer, the "
           "entry links to it (your sidebar settings come along).")

pages = {page.path: page for page in app.PAGES}
st.header("Terms")
# Every term on one line, A to Z, each a link to its entry below: the entries follow the walkthrough's order, so
# a learner looking one up would otherwise scroll past thirty of them.
st.markdown("**A–Z:** " + " · ".join(f"[{term}](#{anchor(term)})" for term in sorted(
    (entry.term for entry in ENTRIES), key=str.casefold)))
for entry in ENTRIES:  # each term a heading with its own anchor: other pages link to glossary#<anchor>
    with st.container(border=True, key=f"term_{anchor(entry.term).replace('-', '_')}"):
        st.subheader(entry.term, anchor=anchor(entry.term))
        st.markdown(entry.text)
        page = pages.get(entry.page)
        if page is not None:
            st.page_link(page.path, label=f"See it: {page.label}", icon=page.icon, query_params=app.link_params())

st.header("Is routing healthy? Signals to watch")
st.caption("What a real training run or serving system shows when routing works, and when it is failing.")
# A static table: its cells wrap, where a dataframe cut the sentences off at the column width.
st.table([{"signal": s, "healthy": ok, "failing": bad} for s, ok, bad in HEALTH_SIGNALS], hide_index=True)

app.finish_page()
