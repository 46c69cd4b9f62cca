"""Sticky-routing self-check: behind a load balancer, does this browser reach only the process that holds its session?

Streamlit keeps a session, its uploads and its download files in one server process. Behind a load balancer
without session affinity the page still loads, but an upload answers HTTP 400 and a download "file not found"
(Streamlit issues #4173, #9976), with no word on the page about why. So, once per session and only behind a
proxy, the page asks: the process registers a tiny media file holding its id (a file only this process serves,
exactly like a download), and the browser fetches it PROBES times. Any answer from another process (404, or
another id) means the balancer spreads one browser over several processes, and the page says what to fix.

    affinity.self_check()   # one line in moeviz.app.controls.sidebar(): the caption, the probe, the warning

Each process knows its id: MOEVIZ_PROCESS_ID (deploy/hall.sh sets app-1, app-2, ...; the Kubernetes Deployment
the pod name), else hostname:pid. Why a probe and not a cookie: a cookie is read once per WebSocket connection,
so it could only notice a move on the next reload, after uploads had already failed; the probe fires on the
first page load and tests the very requests that break.
"""
from __future__ import annotations

import os
import re
import socket
from functools import lru_cache

import streamlit as st
from streamlit import runtime

PROCESS_ID_ENV = "MOEVIZ_PROCESS_ID"
PROBES = 6  # sequential fetches: round-robin over n <= 6 processes sends at least one elsewhere
RESULT_KEY = "_affinity_result"  # session state: the probe's answer, kept after the probe is gone
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")
DOCS = "docs/deploy.md"

_PROBE_JS = """
export default function ({ data, setStateValue }) {
  (async () => {
    let answered = 0, elsewhere = 0;
    for (let i = 0; i < data.tries; i++) {
      try {
        const r = await fetch(data.url, { cache: "no-store", credentials: "same-origin" });
        const body = r.ok ? await r.text() : "";
        if (r.ok || r.status === 404) answered += 1;
        if (r.status === 404 || (r.ok && body !== data.process)) elsewhere += 1;
      } catch (e) { /* a network error says nothing about affinity */ }
    }
    setStateValue("result", { tries: data.tries, answered: answered, elsewhere: elsewhere });
  })();
}
"""
_probe_component = st.components.v2.component("moeviz_affinity_probe", js=_PROBE_JS,
                                               css=":host { display: none; }")


@lru_cache(maxsize=1)
def process_id() -> str:
    """This server process's name: MOEVIZ_PROCESS_ID, else hostname:pid (letters, digits and . _ : - only)."""
    raw = os.environ.get(PROCESS_ID_ENV, "").strip() or f"{socket.gethostname()}:{os.getpid()}"
    return re.sub(r"[^A-Za-z0-9._:-]", "_", raw)[:64]


def behind_proxy() -> bool:
    """True when this session's connection came through a proxy (or the operator named the process)."""
    headers = st.context.headers
    return bool(os.environ.get(PROCESS_ID_ENV)) or any(headers.get(h) for h in PROXY_HEADERS)


def self_check() -> None:
    """Behind a proxy: name the serving process in the sidebar, probe once per session, warn if affinity is broken.

    The warning goes in the main area, above the page, where the teacher sees it (the sidebar folds away in
    presenter mode). Alone on a laptop (no proxy), nothing is drawn and nothing is fetched."""
    if not behind_proxy():
        return
    st.sidebar.caption(f"Served by process `{process_id()}`")
    result = st.session_state.get(RESULT_KEY)
    if result is None:
        with st.sidebar:
            _probe()
    elif result["elsewhere"]:
        st.warning(warning_text(result), icon=":material/alt_route:")


@st.fragment
def _probe() -> None:
    """Mount the probe; its answer reruns only this fragment, and the whole page only when it found a problem."""
    result = st.session_state.get(RESULT_KEY)
    if result is not None:
        if result["elsewhere"]:
            st.rerun(scope="app")  # the warning belongs above the page
        return
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    url = runtime.get_instance().media_file_mgr.add(process_id().encode(), "text/plain", "moeviz.affinity")
    _probe_component(key="affinity_probe", data={"url": (f"/{base}" if base else "") + url,
                                                 "process": process_id(), "tries": PROBES},
                     on_result_change=_keep_result)


def _keep_result() -> None:
    answer = st.session_state["affinity_probe"]["result"]
    st.session_state[RESULT_KEY] = {k: int(answer.get(k, 0)) for k in ("tries", "answered", "elsewhere")}


def warning_text(result: dict) -> str:
    """What the teacher reads when one browser's requests reached several processes."""
    return (f"**Uploads and downloads will fail here: the load balancer spreads this browser over several "
            f"server processes.** This page's session lives in process `{process_id()}`, but {result['elsewhere']} "
            f"of {result['tries']} test requests from this browser reached another one (Streamlit keeps a session, "
            f"its uploads and its downloads in one process). Tell whoever runs the server to turn on cookie session "
            f"affinity: in nginx `hash $cookie_moeviz_hall consistent;` in the upstream, as "
            f"`deploy/nginx/hall.conf` does; in Kubernetes ingress-nginx the annotation "
            f"`nginx.ingress.kubernetes.io/affinity: cookie`. Not `ip_hash`: a class behind one NAT address would "
            f"all land on one process. See `{DOCS}`.")
