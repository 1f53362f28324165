"""Tiny randomly initialised models built locally, for tests and benchmarks (no downloads)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


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


def keyed_token_classifier(texts: Iterable[str], folder: Path, rule: str) -> Path:
    """An LLMLingua-2 token classifier whose keep probability is a known function of the token:
    about 1 for a token whose text is all digits, about 0 for any other token, whatever its
    context (no attention layer; the logit is read off the token's own embedding).

    `rule` picks the package's word-merging rule through the folder name and the tokenizer:
    "wordpiece" (a BERT "##" vocabulary, `bert-base-multilingual-cased`) or "sentencepiece"
    (a Unigram "▁" vocabulary, `xlm-roberta-large`, the paper's classifier).
    """
    import torch
    from tokenizers import BertWordPieceTokenizer, SentencePieceUnigramTokenizer

    texts = list(texts)
    if rule == "wordpiece":
        from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

        folder = Path(folder) / "keyed-bert-base-multilingual-cased"
        trained = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
        trained.train_from_iterator(
            texts, vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        )
        tokenizer = BertTokenizerFast(tokenizer_object=trained._tokenizer, do_lower_case=False)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=4, num_attention_heads=1)
        model_class: Any = BertForTokenClassification
    elif rule == "sentencepiece":
        from transformers import (
            XLMRobertaConfig,
            XLMRobertaForTokenClassification,
            XLMRobertaTokenizerFast,
        )

        folder = Path(folder) / "keyed-xlm-roberta-large"
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        trained = SentencePieceUnigramTokenizer()
        trained.train_from_iterator(
            texts, vocab_size=300, special_tokens=specials, unk_token="<unk>"
        )
        tokenizer = XLMRobertaTokenizerFast(tokenizer_object=trained._tokenizer)
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=4,
            num_attention_heads=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        model_class = XLMRobertaForTokenClassification
    else:
        raise ValueError(f"rule must be wordpiece or sentencepiece, got {rule!r}")
    config.update(
        {
            "num_hidden_layers": 0,
            "intermediate_size": 4,
            "num_labels": 2,
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "max_position_embeddings": 514,
        }
    )
    model = model_class(config).eval()
    embeddings = model.base_model.embeddings
    with torch.no_grad():
        # after LayerNorm, [s, -s, 1, -1] becomes the same vector for every token of one sign
        weights = torch.zeros_like(embeddings.word_embeddings.weight)
        for token, index in tokenizer.get_vocab().items():
            digits = token.lstrip("#▁")
            weights[index] = torch.tensor([3.0 if digits.isdigit() else -3.0, 0.0, 1.0, -1.0])
            weights[index, 1] = -weights[index, 0]
        embeddings.word_embeddings.weight.copy_(weights)
        embeddings.position_embeddings.weight.zero_()
        embeddings.token_type_embeddings.weight.zero_()
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.LayerNorm.bias.zero_()
        model.classifier.weight.copy_(torch.tensor([[0.0] * 4, [10.0, 0.0, 0.0, 0.0]]))
        model.classifier.bias.zero_()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
