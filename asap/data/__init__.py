"""The `data` stage's inputs and schemas: CodeForces-CoTs records into the training schema, the
benchmark registry (one entry per benchmark, raw rows into one problem schema), LiveCodeBench
release files, where raw rows come from, reasoning steps, and the SFT datasets every method
writes (`data/sft/<method>.jsonl`).
"""
