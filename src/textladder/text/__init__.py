from textladder.text.tokenize import tokenize, token_lengths

__all__ = ["tokenize", "token_lengths"]
