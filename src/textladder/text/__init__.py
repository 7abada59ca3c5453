from textladder.text.tokenize import token_lengths, token_lines, tokenize, tokenize_many

__all__ = ["tokenize", "tokenize_many", "token_lengths", "token_lines"]
