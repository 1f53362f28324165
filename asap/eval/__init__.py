"""The `eval` stages: prompts and greedy generation (transformers or vLLM) with a per-problem
cache, which code of a completion runs, the isolated sandbox and the graders of every benchmark,
and one method's evaluation over every benchmark and budget.
"""
