"""A light Streamlit client: one WebSocket session that speaks Streamlit's own protocol (the BackMsg/ForwardMsg
protobufs the browser sends and reads), for loads where 30 Chromium sessions would swamp a 2-core machine.

    async with Session("http://127.0.0.1:8080", "/?top_k=2") as s:   # opens the page, runs it once
        s.process_id                     # the "Served by process ..." caption of moeviz.app.affinity
        ms = await s.set_slider("top_k", 3)   # ms from the move until the rerun finished

It does what the browser does on a page load (cookies through the proxy, the health probe, then the stream with
the "streamlit" subprotocol and a rerun with the link's query string) and on a slider move (a rerun with the
widget's new value). It draws nothing: what it measures is the server's side of a move, through the network.
"""
from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

PROCESS_RE = re.compile(r"Served by process `([^`]+)`")


class Session:
    def __init__(self, base_url: str, path: str = "/", timeout_s: float = 120.0, cookie: str = ""):
        """`cookie`: sent with every request besides the proxy's own (e.g. "moeviz_hall=KEY" to pick a process)."""
        self.base_url, self.timeout_s, self.extra_cookie = base_url.rstrip("/"), timeout_s, cookie
        parts = urlsplit(path)
        self.query_string, self.page_name = parts.query, parts.path.strip("/")
        self.cookies = CookieJar()
        self.widgets: dict[str, tuple[str, str]] = {}  # key -> (widget id, proto type), from the last run
        self.texts: list[str] = []  # markdown and captions of the last run
        self.process_id: str | None = None
        self.ws = None

    async def __aenter__(self) -> "Session":
        await asyncio.to_thread(self._get, "/" + self.page_name)  # the page itself: the proxy sets its cookie here
        await asyncio.to_thread(self._get, "/_stcore/health")
        ws_url = "ws" + self.base_url[4:] + "/_stcore/stream"
        cookie = self.cookie_header()
        self.ws = await connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout_s,
                                additional_headers={"Cookie": cookie} if cookie else None)
        await self.rerun()
        return self

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()

    def cookie_header(self) -> str:
        return "; ".join([f"{c.name}={c.value}" for c in self.cookies] + ([self.extra_cookie] if self.extra_cookie
                                                                            else []))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def _get(self, path: str) -> bytes:
        request = urllib.request.Request(self.base_url + path)
        if self.extra_cookie:
            request.add_header("Cookie", self.extra_cookie)
        else:
            self.cookies.add_cookie_header(request)
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            self.cookies.extract_cookies(response, request)
            return response.read()

    async def rerun(self, widget: tuple[str, float] | None = None) -> float:
        """Ask for a rerun (with one slider moved); wait until the script finished; return the ms it took."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name = self.query_string, self.page_name
        if widget is not None:
            key, value = widget
            w = state.widget_states.widgets.add()
            w.id = self.widgets[key][0]
            w.double_array_value.data.append(value)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(self._read_run(), self.timeout_s)
        return (time.perf_counter() - started) * 1e3

    async def set_slider(self, key: str, value: float) -> float:
        return await self.rerun((key, value))

    async def _read_run(self) -> None:
        texts = []
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._read_element(fwd.delta.new_element, texts)
            elif kind == "script_finished":
                self.texts = texts
                return

    def _read_element(self, element, texts: list[str]) -> None:
        kind = element.WhichOneof("type")
        if kind == "markdown":
            texts.append(element.markdown.body)
            found = PROCESS_RE.search(element.markdown.body)
            if found:
                self.process_id = found.group(1)
        elif kind in ("slider", "number_input", "selectbox"):
            widget = getattr(element, kind)
            key = widget.id.rsplit("-", 1)[-1]
            self.widgets[key] = (widget.id, kind)

    def shows(self, text: str) -> bool:
        return any(text in t for t in self.texts)
