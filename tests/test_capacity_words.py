"""The capacity formula is written one way: every page that defines C names its symbols with moeviz.capacity_words,
and the worked numbers are the config's own C."""
import pytest

from moeviz.capacity_words import CAPACITY_FORMULA, capacity_symbols, capacity_worked
from moeviz.config import MoEConfig


@pytest.mark.parametrize("cf, T, k, N", [(1.0, 32, 2, 8), (1.25, 10, 1, 4), (0.5, 1_000, 4, 64)])
def test_the_worked_formula_ends_with_the_configs_capacity(cf, T, k, N):
    C = MoEConfig(num_experts=N, top_k=k, capacity_factor=cf).capacity(T)
    said = capacity_worked(cf, T, k, N, C)
    assert said.startswith(f"{CAPACITY_FORMULA} = ceil({cf:g} · {T:,} · {k} / {N}) = ")
    assert said.endswith(f"= {C:,}")


def test_the_symbols_say_what_t_is_and_give_k_and_n():
    said = capacity_symbols("32 tokens in the batch", 1, 8)
    assert said == ("(cf = the capacity factor, T = 32 tokens in the batch, k = 1 expert each token picks, "
                    "N = 8 experts; ceil rounds up)")
    assert "k = the experts each token picks" in capacity_symbols("a text") and "N = the number of experts" in \
        capacity_symbols("a text")


def test_no_page_writes_the_formula_another_way():
    """Before: ⌈cf·T·k/N⌉ on /replicas and /balance, ceil(cf · T · k / N) on /parallel and /heatmap, and
    ceil(factor · T tokens · k / N experts) on /variants: one formula, three spellings."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    for path in [*root.glob("pages/*.py"), *root.glob("moeviz/app/*.py"), root / "app.py"]:
        text = path.read_text()
        assert "⌈cf" not in text and "T tokens · k / N experts" not in text, path.name
