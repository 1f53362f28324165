"""The `stats` stage: the tidy results frames (pandas), Wilcoxon signed-rank tests, the paper's
tables 1-12 in Markdown and LaTeX, the figures, the run label, and the index of every artifact.
"""
