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
