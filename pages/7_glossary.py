"""Glossary (URL /glossary): the terms a learner meets, each linked to the page that shows it."""
import streamlit as st

import moeviz.app as app
from moeviz.glossary import ENTRIES, HEALTH_SIGNALS, anchor, cross_linked

controls = app.sidebar("moeviz · Glossary")
st.title("Glossary")
st.caption("Short definitions in plain words. Where a page of this app shows the idea with a real layer, the "
           "entry links to it (your sidebar settings come along).")

# The index and the cards, both A to Z: a newcomer read "A–Z:" as the cards' order too, and found them out of it
# (ENTRIES keeps the order the entries were written in, which is no lesson order a learner could follow).
INDEX_LABEL = "All entries, A–Z:"
CARDS = sorted(ENTRIES, key=lambda entry: entry.term.casefold())

pages = {page.path: page for page in app.PAGES}
st.header("Terms")
# Every term on one line, A to Z, each a link to its card below: thirty-odd cards are a long scroll.
st.markdown(f"**{INDEX_LABEL}** " + " · ".join(f"[{entry.term}](#{anchor(entry.term)})" for entry in CARDS))
st.caption("The cards below are in the same A–Z order; click a term to jump to its card.")
for entry in CARDS:  # each term a heading with its own anchor: other pages link to glossary#<anchor>
    with st.container(border=True, key=f"term_{anchor(entry.term).replace('-', '_')}"):
        st.subheader(entry.term, anchor=anchor(entry.term))
        st.markdown(cross_linked(entry))  # other cards' terms link to their cards
        page = pages.get(entry.page)
        if page is not None:
            st.page_link(page.path, label=f"See it: {page.label}", icon=page.icon, query_params=app.link_params())

st.header("Is routing healthy? Signals to watch")
st.caption("What a real training run or serving system shows when routing works, and when it is failing.")
# A static table: its cells wrap, where a dataframe cut the sentences off at the column width.
st.table([{"signal": s, "healthy": ok, "failing": bad} for s, ok, bad in HEALTH_SIGNALS], hide_index=True)

app.finish_page()
