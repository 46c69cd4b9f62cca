

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
