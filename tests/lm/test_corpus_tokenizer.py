"""The corpus split, the prose/code heuristic and the byte-level tokenizer."""
import numpy as np

from moeviz.lm import corpus
from moeviz.lm.tokenizer import END_OF_TEXT, VOCAB_SIZE, train_tokenizer


def test_split_is_deterministic_disjoint_and_about_a_tenth():
    a, b = corpus.split(), corpus.split()
    assert a == b
    assert not set(a.train_topics) & set(a.val_topics)
    assert set(a.train_topics) | set(a.val_topics) == set(corpus.topics())
    share = len(a.val) / (len(a.val) + len(a.train))
    assert 0.03 < share < 0.2
    assert a.val.startswith(corpus.topics()[a.val_topics[0]])


def test_code_mask_marks_indented_lines_only():
    text = "Prose line.\n   for i in x:\n       pass\nBack to prose\n  two spaces\n"
    mask = corpus.code_mask(text)
    naive = np.zeros(len(text), bool)
    pos = 0
    for line in text.splitlines(keepends=True):
        naive[pos:pos + len(line)] = line.startswith("   ") and bool(line.strip())
        pos += len(line)
    np.testing.assert_array_equal(mask, naive)
    assert mask[text.index("for")] and not mask[text.index("Prose")] and not mask[text.index("two")]


def test_token_is_code_uses_the_last_character(tokenizer):
    text = "Words here\n   print(x)\n"
    enc = tokenizer.encode(text)
    labels = corpus.token_is_code(enc.offsets, corpus.code_mask(text))
    line_start, line_end = text.index("   print"), text.index(")\n") + 1
    for (start, end), is_code in zip(enc.offsets, labels):
        assert is_code == (line_start <= end - 1 <= line_end)


def test_shipped_tokenizer_round_trips_any_unicode(tokenizer):
    assert tokenizer.get_vocab_size() == VOCAB_SIZE
    texts = ["for i in range(10):", "שלום עולם مرحبا", "emoji 🙂🧪 and \x00\x07 control", "<script>x</script>"]
    for text in texts:
        enc = tokenizer.encode(text)
        assert tokenizer.decode(enc.ids) == text
    # common words of the docs are single tokens after training
    assert len(tokenizer.encode(" the").ids) == 1
    assert tokenizer.token_to_id(END_OF_TEXT) is not None


def test_tokenizer_training_is_deterministic():
    text = corpus.split().train[:20000]
    assert train_tokenizer(text, 300).to_str() == train_tokenizer(text, 300).to_str()
