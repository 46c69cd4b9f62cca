

def test_the_subword_example_is_the_shipped_tokenizers_own_split():
    """The glossary's example of subword pieces is what olmoe-tiny's tokenizer really does (Ġ is its space)."""
    from tokenizers import Tokenizer
    from moeviz.glossary import ENTRIES
    from moeviz.hf.shipped import shipped_olmoe
    pieces = Tokenizer.from_file(str(shipped_olmoe()[8] / "tokenizer.json")).encode(" routers").tokens
    shown = "”, “".join(p.replace("Ġ", "␣") for p in pieces)
    entry = next(e for e in ENTRIES if e.term == "Token and subword")
    assert f"“{shown}”" in entry.text
