"""/heatmap's model side: which models the picker offers, the `model` link key, loading through the one cache,
and opening an uploaded trace file. The views of a routing are in moeviz.app.checkpoint_views.

The picker offers the shipped models first (the HF-layout olmoe-tiny, the default; then moeviz's own tiny LM),
then every MOEVIZ_MODEL_DIRS model by folder name. The link carries that name only: a path, `..` or an unknown
name warns and gives the default, and nothing else reaches the file system (moeviz.hf.folders.resolve_model).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from moeviz.app.lm_heatmap import LM_LABEL, LM_NAME
from moeviz.app.params import ParamError, shown
from moeviz.app.runners import checkpoint_model, model_cache, uploaded_trace
from moeviz.app.url import set_url_value, url_value
from moeviz.hf.files import CheckpointError
from moeviz.hf.shipped import display_name
from moeviz.hf.folders import ENV_VAR, SHIPPED_DIR, ModelNameError, available_models, resolve_model
from moeviz.hf.tracefile import MAX_TRACE_BYTES, TraceFileError
from moeviz.text import escape_markdown

DEFAULT_MODEL = "olmoe-tiny"
UPLOAD_MB = MAX_TRACE_BYTES >> 20


def model_options() -> dict[str, Path | None]:
    """{name: folder} in picker order: shipped checkpoints, moeviz's LM (no folder: None), MOEVIZ_MODEL_DIRS."""
    found = available_models()
    shipped = {n: p for n, p in found.items() if p.parent == SHIPPED_DIR}
    listed = {n: p for n, p in found.items() if n not in shipped and n != LM_NAME}  # a shipped name wins
    return {**shipped, LM_NAME: None, **listed}


def default_model(options: dict) -> str:
    return DEFAULT_MODEL if DEFAULT_MODEL in options else next(iter(options))


def parse_model(options: dict[str, Path | None]):
    """The `model` link value: exactly one of the offered names (resolve_model's rule), else ParamError."""
    folders = {n: p for n, p in options.items() if p is not None}

    def parse(raw: str) -> str:
        if raw == LM_NAME:
            return raw
        try:
            resolve_model(raw, folders)
        except ModelNameError:
            path = any(c in raw for c in "/\\") or ".." in raw
            why = "looks like a path; a link may only name a model" if path else "is not a model this server offers"
            raise ParamError(f"“{shown(raw)}” {why} (one of: {', '.join(shown(n) for n in options)}).") from None
        return raw
    return parse


def _label(options: dict, name: str) -> str:
    path = options.get(name)
    if path is None:
        return LM_LABEL
    return f"{display_name(name)} · shipped, trained here" if path.parent == SHIPPED_DIR else name


def model_picker(uploaded: bool = False) -> tuple[str, Path | None]:
    """The model selectbox (URL key `model`); returns (name, folder), folder None for moeviz's own LM. While an
    uploaded trace is shown the picker is disabled and the link carries no model: the trace names its own."""
    options = model_options()
    default = default_model(options)
    linked = url_value("model", default, parse_model(options))
    if linked not in options:  # remembered from a session whose MOEVIZ_MODEL_DIRS listing has since changed
        linked = default
    names = list(options)
    name = st.selectbox("Model (not used while a trace file is open)" if uploaded else "Model", names,
                        index=names.index(linked), key="model", disabled=uploaded,
                        format_func=lambda n: _label(options, n),
                        help=f"The shipped models, then every folder the server lists in {ENV_VAR} (by folder "
                             "name; a link carries the name, never a path).")
    if uploaded:
        st.query_params.pop("model", None)
    else:
        set_url_value("model", name)
    return name, options[name]


def load_model(name: str, path: Path):
    """The loaded checkpoint, or None after an st.error saying why it was refused (the page keeps working)."""
    cache = model_cache()
    waiting = st.empty()
    if cache.loading is not None and str(path) not in cache.cached():
        waiting.info(f"Waiting for {shown(cache.loading)} to load: the server loads one model at a time.",
                     icon=":material/hourglass_top:")
    try:
        with st.spinner(f"Loading {name}…"):
            return checkpoint_model(name, str(path))
    except CheckpointError as error:
        st.error(f"Cannot use {shown(name)}: {escape_markdown(str(error))}", icon=":material/error:")
    except ModelNameError as error:
        st.error(escape_markdown(str(error)), icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - an operator's folder can fail in ways no check foresaw
        st.error(f"Cannot use {shown(name)}: {type(error).__name__}: "
                 f"{escape_markdown((str(error).splitlines() or [''])[0][:300])}",
                 icon=":material/error:")
    finally:
        waiting.empty()
    return None


def trace_upload():
    """(upload id, CheckpointRouting) of an uploaded trace file (validated by read_trace), or None; an invalid
    file gets an st.error saying what is wrong."""
    upload = st.file_uploader(
        "Or open a trace file", type=["json"], key="trace_upload", max_upload_size=UPLOAD_MB,
        help=f"A JSON file from this page's “Trace (JSON)” download or `python -m moeviz.hf trace` (at most "
             f"{UPLOAD_MB} MB): shown here without loading the model.")
    if upload is None:
        return None
    try:
        return upload.file_id, uploaded_trace(upload.file_id, upload.getvalue())
    except TraceFileError as error:
        st.error(f"That file cannot be shown: {escape_markdown(str(error))}", icon=":material/error:")
    return None
