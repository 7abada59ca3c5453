"""Word vectors: trained (word2vec) or read from files."""
