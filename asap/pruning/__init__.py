"""The `surprisal` stage (paper section 3.3): first-token surprisal of every step, pruning to a
token budget (global or iterative), its per-record cache, and the per-stage pruning report.
"""
