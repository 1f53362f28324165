"""Log-probabilities under a causal LM, the measurement behind surprisal and the scoring
baselines: batched transformers scoring with windows for long texts, the last layer computed
only where read, many edited copies of one text over a shared prefix, and a vLLM backend (GPU),
chosen by a params section's `backend` (`asap.scoring.backend`).
"""
