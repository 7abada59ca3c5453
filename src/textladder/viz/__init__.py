"""Static plots (matplotlib, Agg backend: no display needed)."""
