"""The teacher stages (`anchor`, `coarse`, paper section 3.2): the OpenAI-compatible client with
its retries and response cache, the local `transformers serve` endpoint, the prompt templates,
the Direct CoT (anchor) of every record, and anchor-guided coarse pruning with ordered-match
validation (`asap.matching`) and resampling.
"""
