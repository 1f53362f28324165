"""ASAP: anchor-guided, surprisal-based pruning of code reasoning chains (reproduction)."""

__version__ = "0.1.0"
