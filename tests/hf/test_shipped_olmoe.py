"""olmoe-tiny as the app's one trained model: its MoE block as a moeviz layer, its name line, its windows, its
variants, and the command line that traces it."""
import pytest
import torch

from moeviz.hf import __main__ as cli
from moeviz.hf import shipped
from moeviz.hf.capture import Capture
from moeviz.hf.folders import SHIPPED_DIR
from moeviz.hf.model import decoder, load_checkpoint
from moeviz.hf.whatif import what_if
from moeviz.variants import NOISE_SEED, VARIANT_KEYS


@pytest.fixture(scope="module")
def olmoe():
    return load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu")


def test_block_as_moe_layer_reproduces_the_model(tiny_models):
    model = tiny_models["olmoe"]
    routing = model.route("The router sends each token to two experts.", states=True)
    for i, block in enumerate(model.blocks):
        layer = shipped.as_moe_layer(block)
        with torch.inference_mode():
            y, trace = layer(routing.traces[i].input)
        torch.testing.assert_close(trace.router_logits, routing.traces[i].router_logits)
        torch.testing.assert_close(trace.topk_indices, routing.traces[i].topk_indices)
        torch.testing.assert_close(y, routing.traces[i].output, atol=1e-5, rtol=1e-4)


def test_learners_k_and_capacity_act_on_the_layer(tiny_models):
    block = tiny_models["olmoe"].blocks[0]
    assert shipped.as_moe_layer(block, top_k=3).cfg.top_k == 3
    assert shipped.as_moe_layer(block, top_k=99).cfg.top_k == block.router.num_experts  # clamped to N
    assert shipped.as_moe_layer(block, capacity_factor=0.5).cfg.capacity_factor == 0.5


def test_describe_names_the_architecture_and_the_real_parameter_count(olmoe):
    line = olmoe.describe()
    count = sum(p.numel() for p in olmoe.model.parameters())
    assert line.startswith("olmoe-tiny (8 experts): a tiny model with OLMoE's architecture")
    assert "trained here on" in line and f"{count:,} parameters" in line
    assert "Hugging Face checkpoint" not in line


def test_describe_never_calls_unknown_weights_trained(tiny_models):
    line = tiny_models["olmoe"].describe()  # random weights, no training.json
    assert "trained here" not in line and "does not know whether they were trained" in line
    assert "trained or random" in shipped.describe({"name": "x", "uploaded": True})


def test_nearest_shipped_model_follows_n():
    found = shipped.shipped_olmoe()
    assert found[8].name == "olmoe-tiny" and len(found) >= 2  # more than one N ships, so the N slider acts
    for n in (1, 5, 8, 9, 64):
        name, folder = shipped.nearest_olmoe(n)
        best = min(abs(e - n) for e in found)
        assert abs(int(__import__("json").loads((folder / "config.json").read_text())["num_experts"]) - n) == best


def test_long_text_is_routed_in_windows_of_the_context(olmoe):
    text = "An iterator is created for the result of the expression. " * 40
    routing = olmoe.route(text)
    ids = list(routing.token_ids)
    assert len(ids) > 2 * olmoe.context
    logits = {b.layer: [] for b in olmoe.blocks}
    for start in range(0, len(ids), olmoe.context):  # the reference: each window through the model on its own
        with Capture(olmoe.blocks) as records, torch.inference_mode():
            decoder(olmoe.model)(input_ids=torch.tensor([ids[start:start + olmoe.context]]), use_cache=False)
        for b in olmoe.blocks:
            logits[b.layer].append(records[b.layer]["router_logits"])
    for trace, block in zip(routing.traces, olmoe.blocks):
        torch.testing.assert_close(trace.router_logits, torch.cat(logits[block.layer]).float())


def test_an_ordinary_paragraph_is_not_refused(olmoe):
    paragraph = ("The for statement is used to iterate over the elements of a sequence (such as a string, tuple "
                 "or list) or other iterable object. The expression list is evaluated once; it should yield an "
                 "iterable object. An iterator is created for the result. The suite is then executed once for each "
                 "item provided by the iterator, in the order returned by the iterator.")[:364]
    assert len(olmoe.route(paragraph).traces[0].router_logits) > 0


def test_variants_on_real_logits_match_what_if(olmoe):
    logits = olmoe.route("The router sends each word to only two of the experts.").traces[1].router_logits
    runs = shipped.variants_on_logits(logits, top_k=2, capacity_factor=1.0, bias_steps=0)
    assert [r.variant.key for r in runs] == list(VARIANT_KEYS)
    for run in runs:
        reference = what_if(logits, run.variant.key, 2, 1.0, noise_seed=NOISE_SEED).trace  # noisy: as in training
        torch.testing.assert_close(run.trace.topk_indices, reference.topk_indices)
        if run.variant.key != "noisy_topk":  # its trace holds the logits after the noise
            torch.testing.assert_close(run.trace.router_logits, logits.float())
    biased = shipped.variants_on_logits(logits, 2, None, bias_steps=5)
    assert biased[3].variant.key == "sigmoid_bias" and biased[3].selection_bias.abs().sum() > 0


def test_cli_list_names_are_accepted_and_moeviz_lm_is_listed(capsys, tmp_path):
    assert cli.main(["list"]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert "olmoe-tiny" in names and "moeviz-lm" in names
    out = tmp_path / "t.json"
    assert cli.main(["trace", "--model", "olmoe-tiny", "--text", "def f(x): return x", "--out", str(out)]) == 0
    assert '"olmoe-tiny"' in out.read_text()


def test_cli_refuses_a_long_file_before_loading(tmp_path, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr("moeviz.hf.model.load_checkpoint", never)
    monkeypatch.setattr("moeviz.hf.files.inspect_folder", never)
    long = tmp_path / "long.txt"
    long.write_text("word " * (cli.MAX_TRACE_CHARS // 4))
    assert cli.main(["trace", "--model", "olmoe-tiny", "--text-file", str(long)]) == 2


def test_one_tokenization_for_every_layer(olmoe):
    text = "The router sends each word to only two of the experts. 🙂\n  x = 1"
    assert shipped.sentence_tokens(text) == list(olmoe.route(text).tokens)
    for folder in shipped.shipped_olmoe().values():  # every shipped N: the same tokenizer file
        assert (folder / "tokenizer.json").read_bytes() == (SHIPPED_DIR / "olmoe-tiny" / "tokenizer.json").read_bytes()
