"""The shipped default checkpoint: an OLMoE-architecture model in the HF layout, listed first, reproducible."""
import json
import sysconfig
from pathlib import Path

import pytest
import torch

from moeviz.hf import corpus, load_checkpoint
from moeviz.hf.folders import SHIPPED_DIR, available_models
from moeviz.hf.train import MODEL_NAME, encode, main as train_main, validation_loss

FOLDER = SHIPPED_DIR / MODEL_NAME
HAS_CORPUS = (Path(sysconfig.get_paths()["stdlib"]) / "idlelib" / "help.html").is_file()


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(FOLDER, device="cpu")


@pytest.fixture(scope="module")
def record():
    return json.loads((FOLDER / "training.json").read_text())


def test_listed_first_and_small(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    names = list(available_models([tmp_path]))
    assert names[0] == MODEL_NAME and names[-1] == "m"
    assert all(n.startswith(MODEL_NAME) for n in names[:-1])  # the shipped olmoe-tiny models, then the listed
    assert sum(f.stat().st_size for f in FOLDER.iterdir()) < 5 << 20


def test_it_is_a_real_olmoe_with_top2_over_8_experts(shipped):
    info = shipped.info()
    assert (info["model_type"], info["num_experts"], info["top_k"], info["moe_layers"]) == \
        ("olmoe", 8, 2, [0, 1, 2, 3])
    assert type(shipped.model).__name__ == "OlmoeForCausalLM"
    routing = shipped.route("def f(x):\n    return x\n<p>The router.</p>")
    assert len(routing.traces) == 4 and routing.traces[0].num_experts == 8


def test_moe_beats_the_dense_model_of_equal_active_size_and_the_unigram(record):
    v = record["validation_loss"]
    assert v["moe"]["all"] < v["dense"]["all"] < v["unigram"]["all"]
    dense, moe = record["models"]["dense"]["params"], record["models"]["moe"]["params"]
    assert dense < moe  # same active FFN size, fewer parameters in all


@pytest.mark.skipif(not HAS_CORPUS, reason="this Python lacks idlelib/help.html, part of the corpus")
def test_recorded_validation_loss_is_reproduced(shipped, record):
    """The shipped weights and tokenizer give the validation losses training.json records."""
    split = corpus.split(corpus.documents())
    raw = shipped.tokenizer.backend_tokenizer
    eos = raw.token_to_id(corpus.SEPARATOR)
    for kind in corpus.KINDS:
        ids = encode(raw, split.val[kind], eos)
        loss = validation_loss(shipped.model, ids, shipped.context)
        assert loss == pytest.approx(record["validation_loss"]["moe"][kind], abs=0.02)


@pytest.mark.skipif(not HAS_CORPUS, reason="this Python lacks idlelib/help.html, part of the corpus")
def test_training_cli_smoke_run(tmp_path, capsys):
    assert train_main(["--steps", "3", "--max-chars", "1500", "--out", str(tmp_path), "--vocab-size", "300"]) == 0
    model = load_checkpoint(tmp_path / MODEL_NAME, device="cpu")
    assert model.info()["num_experts"] == 8
    record = json.loads((tmp_path / MODEL_NAME / "training.json").read_text())
    assert set(record["validation_loss"]) == {"unigram", "moe", "dense"} and "step" in capsys.readouterr().err
    assert len(record["specialization"]) == 4 and torch.tensor(
        record["specialization"][0]["kind_share_per_expert"]).shape == (8, 3)


def test_family_rules_are_in_words_not_config_names():
    """/heatmap shows a checkpoint family's rule to a learner: no config field names (norm_topk_prob, ...)."""
    import re
    from moeviz.hf.families import FAMILIES
    for family in FAMILIES.values():
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", family.rule_text), (family.model_type, family.rule_text)
