"""Which checkpoint folders the server may read, and a bounded cache of loaded models. Pure Python, no Streamlit.

    models = available_models()            # {folder name: path}: shipped ones first, then MOEVIZ_MODEL_DIRS
    path = resolve_model(name, models)     # a *name* from a URL -> its path; anything else is refused
    model = ModelCache().get(name, models)  # loaded once, one load at a time, at most MAX_MODELS kept

The server holds one ModelCache, made and kept by moeviz.app.runners.model_cache (the app's one cache layer).

The server's operator lists folders in MOEVIZ_MODEL_DIRS (os.pathsep-separated); every subfolder holding a
config.json is a model, known by its folder name. A browser only ever sends such a name: resolving accepts an
exact listed name and nothing else (no path, no separator, no "..", no hidden name), so nothing it sends can
make the server open a file outside those folders.
"""
from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch

ENV_VAR = "MOEVIZ_MODEL_DIRS"
SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"  # the models moeviz ships, listed first
MAX_MODELS = 2  # loaded models kept per server process
MAX_NAME_CHARS = 200


class ModelNameError(ValueError):
    """A model name from a link or widget that is not one of the listed folders."""


def model_dirs(value: str | None = None) -> list[Path]:
    """The folders listed in MOEVIZ_MODEL_DIRS (or `value`), in order; blank and missing entries skipped."""
    value = os.environ.get(ENV_VAR, "") if value is None else value
    dirs = []
    for entry in value.split(os.pathsep):
        path = Path(entry.strip()).expanduser()
        if entry.strip() and path.is_dir() and path.resolve() not in dirs:
            dirs.append(path.resolve())
    return dirs


def available_models(dirs: list[Path] | None = None, shipped: Path | None = SHIPPED_DIR) -> dict[str, Path]:
    """{folder name: folder}: the shipped models first, then each listed folder's subfolders with a config.json
    (sorted by name). When two folders hold the same name, the first listed wins."""
    models: dict[str, Path] = {}
    roots = ([shipped] if shipped is not None and shipped.is_dir() else []) + \
        (model_dirs() if dirs is None else list(dirs))
    for root in roots:
        try:
            subs = sorted(Path(root).iterdir(), key=lambda p: p.name)
        except OSError:  # unreadable (permissions, a vanished mount): offer nothing from it
            continue
        for sub in subs:
            if _valid_name(sub.name) and sub.is_dir() and (sub / "config.json").is_file():
                models.setdefault(sub.name, sub)
    return models


def resolve_model(name, models: dict[str, Path]) -> Path:
    """The folder of a listed model name; ModelNameError for a path, "..", a separator or an unknown name."""
    if not isinstance(name, str) or not _valid_name(name):
        raise ModelNameError(f"{str(name)[:60]!r} is not a model name: pick one of the listed models "
                             f"(a folder name, never a path).")
    if name not in models:
        raise ModelNameError(f"no model called {name[:60]!r} here; available: {', '.join(models) or 'none'}.")
    return models[name]


def _valid_name(name: str) -> bool:
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return (0 < len(name) <= MAX_NAME_CHARS and not name.startswith(".") and ".." not in name
            and not any(s in name for s in seps) and name.isprintable() and name == name.strip())


class ModelCache:
    """Loaded models by name, least recently used evicted first; loads take turns behind one lock."""

    def __init__(self, max_models: int = MAX_MODELS, loader: Callable | None = None):
        self.max_models = max_models
        self._loader = loader
        self._models: OrderedDict[str, object] = OrderedDict()
        self._state = threading.Lock()  # guards the dict and `loading`; held only for moments
        self._load = threading.Lock()  # one load at a time
        self.loading: str | None = None  # the name being loaded now, for a "waiting for ..." line

    def cached(self) -> list[str]:
        with self._state:
            return list(self._models)

    def get(self, name: str, models: dict[str, Path]):
        """The loaded model `name` (a listed folder name), loading it if needed (CheckpointError if refused)."""
        path = resolve_model(name, models)
        key = str(path)
        with self._state:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        with self._load:
            with self._state:
                if key in self._models:  # loaded by the session we waited for
                    return self._models[key]
                self._evict(self.max_models - 1)  # free memory before the new model is sized and read
                self.loading = name
            try:
                model = self._load_fn()(path)
            finally:
                with self._state:
                    self.loading = None
            with self._state:
                self._models[key] = model
            return model

    def clear(self) -> None:
        with self._state:
            self._evict(0)

    def _evict(self, keep: int) -> None:
        if len(self._models) <= max(keep, 0):
            return
        while len(self._models) > max(keep, 0):
            self._models.popitem(last=False)
        gc.collect()  # a model's tensors go now, not at some later collection
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _load_fn(self) -> Callable:
        if self._loader is None:
            from moeviz.hf.model import load_checkpoint
            return load_checkpoint
        return self._loader


__all__ = ["ENV_VAR", "SHIPPED_DIR", "MAX_MODELS", "ModelNameError", "ModelCache", "model_dirs",
           "available_models", "resolve_model"]
