"""What makes a run reproducible and resumable: params, file IO at the edges, artifact hashes
and their verification against dvc.lock, provenance blocks, the code fingerprints and the one
per-record cache every stage keeps, methods a profile does not run, and the two-checkout
determinism check.
"""
