"""The `base_model` stage: the base model (scorer, teacher and student of the embedded profile)
materialised as a plain transformers folder, and a tokenizer read from a GGUF header; and the
digest that identifies any model folder to the caches and the trained-run index.
"""
