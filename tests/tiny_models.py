"""Tiny randomly initialised models built locally, for tests and benchmarks (no downloads)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def tiny_token_classifier(texts: Iterable[str], folder: Path) -> Path:
    """A tiny LLMLingua-2-style BERT token classifier with a WordPiece vocabulary trained on
    `texts`, saved under `folder` (the llmlingua package picks its rules by folder name)."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    folder = Path(folder) / "tiny-bert-base-multilingual-cased"
    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train_from_iterator(
        list(texts),
        vocab_size=600,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, do_lower_case=False)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=2,
    )
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
