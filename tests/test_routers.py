"""The router table (moeviz.routers): its fields say what the layer really does, nothing outside it branches on a
router's name, and a new router is one entry (docs/architecture.md, "Where new code goes")."""
import ast
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz import routers
from moeviz.config import ROUTER_LABELS, ROUTERS
from moeviz.figures.routing import load_bars, router_heatmap
from moeviz.routers import ROUTER_SPECS, RouterSpec, router_spec
from moeviz.walkthrough import answer, gate_formula, token_view
from tests.helpers import make_layer, tokens

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "moeviz" / "routers.py"


def _names_in(node) -> set[str]:
    """Router names written as string constants in a comparison operand (alone or inside a tuple/list/set)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and i.value in ROUTERS}


def name_comparisons(path: Path) -> list[str]:
    """Every `x == "<router>"`, `!=`, `in ("<router>", ...)` in a file: branching on a name instead of a field."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            names = set().union(*(_names_in(n) for n in (node.left, *node.comparators)))
            if names:
                found.append(f"{path.name}:{node.lineno} compares with {sorted(names)}")
    return found


def source_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "moeviz").rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    return [p for p in files if p != TABLE]


def test_no_module_outside_the_table_compares_router_names():
    files = source_files()
    assert len(files) > 50 and ROOT / "moeviz" / "layer.py" in files
    found = [f"{path.relative_to(ROOT)}: {hit}" for path in files for hit in name_comparisons(path)]
    assert not found, "read a RouterSpec field (moeviz.routers) instead:\n" + "\n".join(found)


def test_the_name_check_catches_a_comparison(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if cfg.router == "switch" or trace.router in ("noisy_topk", "x") or k != 1:\n    pass\n')
    assert name_comparisons(bad) == ["bad.py:1 compares with ['switch']", "bad.py:1 compares with ['noisy_topk']"]


def test_public_names_come_from_the_table():
    assert ROUTERS == tuple(ROUTER_SPECS)
    assert ROUTER_LABELS == {name: spec.label for name, spec in ROUTER_SPECS.items()}
    assert all(spec.name == name for name, spec in ROUTER_SPECS.items())


def test_an_unknown_router_fails_loudly_everywhere():
    with pytest.raises(ValueError, match="unknown router"):
        router_spec("softmax_topkk")
    with pytest.raises(ValueError, match="unknown router"):
        MoEConfig(router="softmax_topkk")
    view = token_view(make_layer()(tokens(3))[1], 0)
    with pytest.raises(ValueError, match="unknown router"):  # step 2 never falls back to the softmax formula
        gate_formula(view, "softmax_topkk", 0)


def test_a_spec_without_a_worked_formula_is_refused():
    with pytest.raises(ValueError, match="SCORE_FUNCTIONS"):
        replace(router_spec("softmax_topk"), name="relu_topk", score_function="relu")


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("norm", [True, False])
def test_the_fields_describe_what_the_layer_does(router, norm):
    spec = router_spec(router)
    layer = make_layer(router, norm_topk_prob=norm, capacity_factor=None)
    assert (layer.noise_proj is not None) == spec.noise_projection
    _, tr = layer(tokens(16))
    assert layer.cfg.top_k == (spec.fixed_top_k or 2)
    assert tr.topk_indices.shape[1] == (tr.num_experts if spec.experts_choose else tr.top_k)
    ones = torch.ones(tr.num_tokens)
    prob_sums, weight_sums = tr.router_probs.sum(-1), tr.routed_weights.sum(-1)
    assert torch.allclose(prob_sums, ones, atol=1e-5) == spec.probs_sum_to_one
    assert torch.allclose(weight_sums, ones, atol=1e-5) == spec.weights_sum_to_one(norm)
    expected_cf = spec.default_capacity_factor
    assert layer.cfg.effective_capacity_factor == expected_cf


def test_softmax_over_kept_means_the_weights_are_a_softmax_of_the_kept_logits():
    for name, spec in ROUTER_SPECS.items():
        _, tr = make_layer(name)(tokens(9))
        kept = tr.router_logits.gather(1, tr.topk_indices)
        same = torch.allclose(tr.routed_weights, torch.softmax(kept, dim=-1), atol=1e-6)
        if spec.softmax_over_kept:
            assert same, name


def test_a_new_router_is_one_entry(monkeypatch):
    """Register a throwaway router made of an existing gating function: config, layer, walkthrough and figures
    take it with no other change, and it routes exactly as the router it copies."""
    copy = replace(router_spec("topk_softmax"), name="topk_softmax_copy", label="a copy, for the test")
    monkeypatch.setitem(routers.ROUTER_SPECS, copy.name, copy)
    x = tokens(11)
    y_new, tr = MoELayer(MoEConfig(d_model=12, d_hidden=20, num_experts=6, router=copy.name, device="cpu",
                                   seed=3, capacity_factor=0.75)).eval()(x)
    y_old, ref = make_layer("topk_softmax", capacity_factor=0.75)(x)
    torch.testing.assert_close(y_new, y_old)
    assert torch.equal(tr.topk_indices, ref.topk_indices) and torch.equal(tr.dropped, ref.dropped)
    view = token_view(tr, 0)
    assert gate_formula(view, copy.name, 0)["latex"] == gate_formula(view, "topk_softmax", 0)["latex"]
    assert answer(view) and load_bars(tr).data and router_heatmap(tr, [str(t) for t in range(11)]).data


def test_every_entry_is_a_router_spec_with_a_formula_for_the_page():
    for spec in ROUTER_SPECS.values():
        assert isinstance(spec, RouterSpec) and spec.formula.startswith("p_e =")


def test_no_private_moelayer_method_is_called_outside_layer_py():
    """Readers use the public route / forward / trace, so the layer's insides can change without them."""
    from moeviz.layer import MoELayer
    private = {name for name in vars(MoELayer) if name.startswith("_") and not name.startswith("__")}
    assert {"_forward", "_trace"} <= private
    files = [*source_files(), *sorted((ROOT / "tests").rglob("*.py"))]
    found = [f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}" for path in files
             if path != ROOT / "moeviz" / "layer.py"
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Attribute) and (node.attr in private or _private_on_a_layer(node))]
    assert not found, "\n".join(found)


def _private_on_a_layer(node: ast.Attribute) -> bool:
    """`layer._anything` (also `self.layer._x`, `moe_layer._x`): catches a private method that no longer exists."""
    owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
    return owner.endswith("layer") and node.attr.startswith("_") and not node.attr.startswith("__")
