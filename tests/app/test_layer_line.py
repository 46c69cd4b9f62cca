"""The standard layer line: every page with numbers says which layer they come from, in the same words."""
import re
from pathlib import Path

import pytest

from moeviz.app.layer_line import MODEL_PREFIX, PREFIX, SECTION_PREFIX, layer_line_text
from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from tests.app.pages import open_page

ROOT = Path(__file__).resolve().parents[2]
NO_LAYER = {"pages/7_glossary.py": "text only: no layer, no numbers"}
PAGES = [p for p in ["app.py"] + sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))
         if p not in NO_LAYER]
LINE = re.compile("(?:" + re.escape(PREFIX) + "|" + re.escape(SECTION_PREFIX) + r") \*\*(trained|random)\*\* weights.* · d_model (\d+) · d_hidden (\d+) · "
                  r"N = (\d+) experts.* · k = (\d+) · ([\d,]+) parameters \(([\d,]+) used per token\)")


# A real checkpoint's line (/heatmap's default): its family, layers, N, k and parameters, all layers at once.
MODEL_LINE = re.compile(re.escape(MODEL_PREFIX) + r" \*\*trained\*\* weights · .+ · (\d+) layers \((\d+) MoE, "
                        r"(\d+) dense\) · N = (\d+) experts.* · k = (\d+) · ([\d,]+) parameters \(([\d,]+) used per token\)")


def layer_lines(at) -> list[re.Match]:
    return [m for c in at.caption if (m := LINE.search(c.value) or MODEL_LINE.search(c.value))]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_which_layer(page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert layer_lines(at), f"{page} shows no layer line"
    # The page's main layer line says in plain words what its d_model means (the sizes differ from page to page,
    # so "64 numbers" from the walkthrough is no anchor elsewhere); a section's line does not repeat it.
    for line in (c.value for c in at.caption if c.value.startswith(PREFIX)):
        d_model = LINE.search(line).group(2)
        assert f"Each token is a vector of d_model = {d_model} numbers here; " in line, (page, line)
    for line in (c.value for c in at.caption if c.value.startswith(SECTION_PREFIX)):
        assert "Each token is a vector" not in line, (page, line)


_SUM = re.compile(r"so the ([\d,]+) parameters are the router's (\d+) × (\d+) \+ (\d+) experts × (\d+) × (\d+) × "
                  r"(\d+)( \+ 1 shared expert × (\d+) × (\d+) × (\d+))?")


@pytest.mark.parametrize("fields", [dict(), dict(shared_expert=True, activation="swiglu"),
                                    dict(num_experts=5, top_k=3, activation="relu"), dict(router="noisy_topk"),
                                    dict(router="noisy_topk", shared_expert=True)])
def test_the_parameter_sum_in_words_adds_up_to_the_layers_own_tensors(fields):
    """Third read: the line gave a parameter count a learner could not redo (the expert's matrices were only
    described in step 4). The sum in words is checked against the real layer's parameter tensors."""
    cfg = MoEConfig(d_model=8, d_hidden=12, **fields)
    line = layer_line_text(cfg, trained=False)
    match = _SUM.search(line)
    assert match, line
    n = [int(g.replace(",", "")) if g and not g.startswith(" ") else None for g in match.groups()]
    words_sum = n[1] * n[2] + n[3] * n[4] * n[5] * n[6] + (n[8] * n[9] * n[10] if match.group(8) else 0)
    noise = re.search(r" \+ the noise matrix's (\d+) × (\d+) \(used only in training\)", line)
    assert bool(noise) == (fields.get("router") == "noisy_topk"), line  # noisy top-k stores a second matrix
    words_sum += int(noise.group(1)) * int(noise.group(2)) if noise else 0
    assert words_sum == n[0] == sum(p.numel() for p in MoELayer(cfg).parameters())
    assert "d_hidden](glossary#d-model-and-d-hidden) = 12 is the width inside each expert" in line


def test_the_walkthrough_line_describes_the_layer_that_ran():
    trained = layer_lines(open_page("app.py"))[0]
    assert trained.group(1) == "trained" and trained.group(2) == "64"  # the language model's width
    random = layer_lines(open_page("app.py", {"trained": "0", "num_experts": "16", "top_k": "3"}))[0]
    assert random.groups()[:5] == ("random", "32", "64", "16", "3")


def test_parallel_names_both_of_its_layers():
    widths = {m.group(2) for m in layer_lines(open_page("pages/3_parallel.py"))}
    assert widths == {"32", "256"}  # the capacity demo's layer and the workers' layer


@pytest.mark.parametrize("fields", [dict(), dict(shared_expert=True, activation="swiglu"), dict(num_experts=5,
                                                                                             top_k=3)])
def test_parameter_count_is_the_layers_own(fields):
    cfg = MoEConfig(d_model=8, d_hidden=12, **fields)
    layer = MoELayer(cfg)
    total = sum(p.numel() for p in layer.parameters())
    per_expert = sum(p.numel() for p in layer.experts.parameters()) // cfg.num_experts
    active = total - (cfg.num_experts - cfg.top_k) * per_expert
    found = LINE.search(layer_line_text(cfg, trained=False))
    assert int(found.group(6).replace(",", "")) == total
    assert int(found.group(7).replace(",", "")) == active
