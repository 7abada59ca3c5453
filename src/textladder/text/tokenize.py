"""Tokenisation that needs no downloaded data.

Treebank-style rules as one compiled regular expression: words, numbers,
clitics split off the way the Penn Treebank does (``don't`` -> ``do n't``,
``she's`` -> ``she 's``) and every punctuation mark its own token. It gives
the same token counts as ``nltk.tokenize.NLTKWordTokenizer`` to within a few
per cent on HappyDB, at about 15 times its speed (see tests/test_text.py).

Example:
    >>> tokenize("I didn't go to the gym, sadly!")
    ['i', 'did', "n't", 'go', 'to', 'the', 'gym', ',', 'sadly', '!']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

_TOKEN = re.compile(
    r"""
    \w+(?=n't\b)            # 'did' of "didn't"
  | n't\b                   # the clitic itself
  | '(?:s|m|d|ll|re|ve)\b   # 's 'm 'd 'll 're 've
  | \w+(?:[-.]\w+)*         # words, numbers, hyphenated words, 3.5, u.s
  | \.\.\.                  # ellipsis
  | [^\w\s]                 # any other single symbol
    """,
    re.VERBOSE | re.IGNORECASE,
)


def tokenize(text: str, lower: bool = True) -> list[str]:
    """Split ``text`` into Treebank-style tokens, lower-cased by default.

    Example:
        >>> tokenize("Went hiking w/ my dog :)", lower=False)
        ['Went', 'hiking', 'w', '/', 'my', 'dog', ':', ')']
    """
    if lower:
        text = text.lower()
    return _TOKEN.findall(text)


def token_lengths(texts: Iterable[str]) -> np.ndarray:
    """Number of tokens of each text, as an int array.

    Example:
        >>> token_lengths(["a b c", "hello"]).tolist()
        [3, 1]
    """
    return np.fromiter((len(_TOKEN.findall(t)) for t in texts), dtype=np.int64)
