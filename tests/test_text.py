"""The data-free tokenizer against NLTK's Treebank tokenizer."""

from __future__ import annotations

import numpy as np
from nltk.tokenize import NLTKWordTokenizer

from textladder.text import token_lengths, tokenize

SENTENCES = [
    "I didn't think I'd finish the 5k run, but I did!",
    "My daughter's first day at school went well.",
    "We went to the U.S. embassy... finally got my visa :)",
    "Bought a new phone - it's amazing.",
]


def test_clitics_and_punctuation_split_like_treebank():
    assert tokenize("I didn't go, she's here.") == ["i", "did", "n't", "go", ",", "she", "'s", "here", "."]


def test_lengths_close_to_nltk():
    nltk_tok = NLTKWordTokenizer()
    ours = token_lengths(SENTENCES)
    theirs = np.array([len(nltk_tok.tokenize(s)) for s in SENTENCES])
    assert np.abs(ours - theirs).max() <= 2


def test_lengths_close_to_nltk_on_happydb(hm_train):
    import pandas as pd

    texts = pd.read_csv(hm_train, nrows=3000)["cleaned_hm"].tolist()
    ours = token_lengths(texts)
    theirs = np.array([len(NLTKWordTokenizer().tokenize(t)) for t in texts])
    assert abs(ours.mean() - theirs.mean()) / theirs.mean() < 0.05


def test_token_lines_equal_the_rules_on_every_text():
    """The bulk (numpy) path gives exactly what the regular expression gives: on hand-picked edge
    cases and on random strings over the characters the rules treat specially."""
    import random

    from textladder.text import token_lines

    edges = ["", " ", "a", "I didn't go!", "she'll", "'s", "'sa", "n't", "xn't", "nn't", "can't't", "don'tcha",
             "well-known u.s. 3.5", "well-don't", "a--b", "a.-b", ".a.", "-a-", "wait...", "a..b", "tab\there",
             "line\nbreak", "\x00\x1c\x7f", "café's", "We’re", "A  B  ", "  lead", "x'll'", "it'S", "I'M HAPPY"]
    rng = random.Random(0)
    alphabet = "abnt'smdlrve.-_ 1!?\t\r\x0b\x1c\x00\x7fé’\n"
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(20_000)]
    for texts in (edges, fuzz, SENTENCES):
        assert token_lines(texts) == [" ".join(tokenize(t)) for t in texts]
    assert token_lines([]) == []


def test_token_lines_on_happydb(hm_train):
    import pandas as pd

    from textladder.text import token_lines

    texts = pd.read_csv(hm_train, nrows=20_000)["cleaned_hm"].astype(str)
    assert token_lines(texts) == [" ".join(tokenize(t)) for t in texts]
