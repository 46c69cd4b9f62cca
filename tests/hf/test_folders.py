"""The server reads checkpoints only from MOEVIZ_MODEL_DIRS, by folder name; loads take turns in a bounded cache."""
import os
import shutil
import threading
import time

import pytest

from moeviz.hf import load_checkpoint
from moeviz.hf.folders import ModelCache, ModelNameError, available_models, model_dirs, resolve_model


def _model_folder(root, name):
    (root / name).mkdir(parents=True)
    (root / name / "config.json").write_text("{}")
    return root / name


@pytest.fixture
def roots(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _model_folder(a, "mix")
    _model_folder(a, "olmo")
    _model_folder(b, "mix")  # the same name again: the first listed folder wins
    _model_folder(b, "qwen")
    (b / "notes").mkdir()  # no config.json: not a model
    (b / "readme.txt").write_text("not a folder")
    _model_folder(b, ".hidden")
    return a, b


def test_env_lists_folders_in_order(roots, monkeypatch, tmp_path):
    a, b = roots
    monkeypatch.setenv("MOEVIZ_MODEL_DIRS", os.pathsep.join([str(a), "", str(tmp_path / "missing"), str(b)]))
    assert model_dirs() == [a.resolve(), b.resolve()]
    models = available_models(shipped=None)
    assert list(models) == ["mix", "olmo", "qwen"]
    assert models["mix"] == a.resolve() / "mix"


def test_shipped_models_come_first(roots, tmp_path):
    shipped = tmp_path / "shipped"
    _model_folder(shipped, "zeta-default")
    assert list(available_models(list(roots), shipped=shipped))[0] == "zeta-default"


@pytest.mark.parametrize("name", ["../a/mix", "..", "a/mix", "mix/", "/etc/passwd", "C:\\models\\mix",
                                  "mix\x00", ".hidden", "", " mix", "x" * 300, None, 3, "notes", "readme.txt",
                                  "unknown"])
def test_only_a_listed_name_resolves(roots, name):
    models = available_models(list(roots), shipped=None)
    with pytest.raises(ModelNameError):
        resolve_model(name, models)
    assert resolve_model("qwen", models) == roots[1].resolve() / "qwen"


def test_cache_is_bounded_and_least_recently_used_goes(tiny_dirs, tmp_path):
    for t in ("mixtral", "olmoe", "granitemoe"):
        shutil.copytree(tiny_dirs[t], tmp_path / "models" / t)
    models = available_models([tmp_path / "models"], shipped=None)
    cache = ModelCache(max_models=2)
    first = cache.get("mixtral", models)
    assert cache.get("mixtral", models) is first  # a hit loads nothing
    cache.get("olmoe", models)
    cache.get("mixtral", models)  # mixtral is now the most recent
    cache.get("granitemoe", models)  # evicts olmoe
    assert [os.path.basename(k) for k in cache.cached()] == ["mixtral", "granitemoe"]
    with pytest.raises(ModelNameError):
        cache.get("../models/olmoe", models)


def test_loads_take_turns(tiny_dirs, tmp_path):
    for t in ("mixtral", "qwen3_moe"):
        shutil.copytree(tiny_dirs[t], tmp_path / "models" / t)
    models = available_models([tmp_path / "models"], shipped=None)
    active, most, seen_loading = [0], [0], []

    def counting_loader(path):  # the real loader, wrapped to count how many run at once
        active[0] += 1
        most[0] = max(most[0], active[0])
        time.sleep(0.2)
        try:
            return load_checkpoint(path, device="cpu")
        finally:
            active[0] -= 1

    cache = ModelCache(max_models=2, loader=counting_loader)
    threads = [threading.Thread(target=cache.get, args=(name, models)) for name in ("mixtral", "qwen3_moe") * 2]
    for t in threads:
        t.start()
    time.sleep(0.1)
    seen_loading.append(cache.loading)
    for t in threads:
        t.join()
    assert most[0] == 1 and seen_loading[0] in ("mixtral", "qwen3_moe") and cache.loading is None
    assert len(cache.cached()) == 2
