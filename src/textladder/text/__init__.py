from textladder.text.tokenize import token_lengths, token_lines, tokenize

__all__ = ["tokenize", "token_lengths", "token_lines"]
