

def test_the_subword_example_is_the_shipped_tokenizers_own_split():
    """The glossary's example of subword pieces is what olmoe-tiny's tokenizer really does (Ġ is its space)."""
    from tokenizers import Tokenizer
    from moeviz.glossary import ENTRIES
    from moeviz.hf.shipped import shipped_olmoe
    pieces = Tokenizer.from_file(str(shipped_olmoe()[8] / "tokenizer.json")).encode(" router").tokens
    shown = "”, “".join(p.replace("Ġ", "␣") for p in pieces)
    entry = next(e for e in ENTRIES if e.term == "Token and subword")
    assert f"“{shown}”" in entry.text


def test_the_weight_of_an_experts_output_has_one_name():
    """A newcomer met "gate value" in the glossary, "combine weights" on /variants and "the combine weight" in the
    quiz: the Gate entry names it the combine weight (the entry the walkthrough links), keeping its own title."""
    from moeviz.glossary import TERMS, anchor
    assert "combine weight" in TERMS["Gate"].text and "Combine weight" in TERMS
    assert anchor("Gate") == "gate" and anchor("Combine weight") == "combine-weight"  # old links' anchors


def test_the_feed_forward_entry_says_silu_and_the_entrywise_product_in_words():
    """A newcomer met "down(silu(gate(x)) ⊙ up(x))" with neither silu nor ⊙ said anywhere."""
    from moeviz.glossary import TERMS
    text = TERMS["Feed-forward MLP"].text
    assert "silu(a) = a · sigmoid(a)" in text and "⊙ multiplies two vectors entry by entry" in text


def test_the_entries_say_what_their_names_and_shorthands_are():
    """"cluster" was undefined, "HF" unexpanded, and "(ST-MoE)" / "(Switch Transformer)" named no one."""
    from moeviz.glossary import BALANCE_LOSS_VALUE, ENTRIES, TERMS
    assert "a cluster is one of the made-up groups of tokens the Load balancing page trains on" in \
        TERMS["Mutual information"].text
    assert not any("HF " in e.text for e in ENTRIES) and "HF " not in BALANCE_LOSS_VALUE
    assert "Hugging Face transformers' Mixtral" in TERMS["Dropless MoE"].text
    assert "Google's MoE paper of 2021, Fedus et al." in TERMS["Load balancing loss"].text
    assert "Google's 2022 MoE design paper, Zoph et al." in TERMS["z-loss"].text


def test_the_balance_loss_is_defined_in_one_place_and_quoted():
    """Before: /balance's price table wrote its own shorter definition ("1 when both are even, more when …") beside
    the glossary's, which also says 1 is not a floor. Both now quote the one text."""
    from pathlib import Path
    from moeviz.glossary import BALANCE_LOSS_FORMULA, BALANCE_LOSS_VALUE, ENTRIES
    entry = next(e for e in ENTRIES if e.term == "Load balancing loss")
    assert BALANCE_LOSS_FORMULA in entry.text and BALANCE_LOSS_VALUE in entry.text
    page = (Path(__file__).resolve().parents[1] / "moeviz/app/balance_page.py").read_text()
    assert "BALANCE_LOSS_FORMULA} {BALANCE_LOSS_VALUE}" in page and "1 when both are even" not in page


def test_the_balance_loss_card_writes_its_formula_once_and_cards_say_residual_path():
    """Before: "An extra training loss, N · Σᵢ fᵢ · Pᵢ (…): N · Σᵢ fᵢ · Pᵢ, where …" (the formula twice in a row),
    and "Dropped slot" said "residual connection" where its card is "Residual path"."""
    from moeviz.glossary import ENTRIES
    cards = {e.term: e.text for e in ENTRIES}
    assert cards["Load balancing loss"].count("N · Σᵢ fᵢ · Pᵢ") == 1
    assert "residual connection" not in cards["Dropped slot"] and "residual path" in cards["Dropped slot"]


def test_overflow_and_the_micro_batch_are_defined_in_plain_words():
    """Readers met /quiz's "Which expert overflows?" with the word defined nowhere, and the micro-batch card's
    "each what one GPU runs forward and backward at once" did not parse."""
    from moeviz.glossary import TERMS
    assert "An expert **overflows** when more copies come to it than C" in TERMS["Capacity factor"].text
    assert "each micro-batch is the part one GPU runs forward and backward in one go" in \
        TERMS["Micro-batch and global batch"].text
    assert "GShard, 2020, had an earlier one" in TERMS["Load balancing loss"].text  # not "from Switch" alone
