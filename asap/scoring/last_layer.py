"""The last decoder layer computed only where its output is read.

A causal LM needs every layer at every position to score any token, except the last layer:
its keys and values are read at every position, but its queries, attention output, MLP and
the final norm matter only at the positions whose next token is scored. When those are few
(ASAP scores one token per step), `hidden_at` runs the backbone up to the last layer, then that
layer's keys and values for the whole sequence and the rest only at the requested positions.

This re-states the layer's arithmetic, so it is limited to the pre-norm decoder layers of the
Llama family (`SUPPORTED`: Llama, Qwen2, Qwen3 without sliding-window attention in the last
layer), and the scorer checks it against the model's own logits when it loads a model.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SUPPORTED = ("llama", "qwen2", "qwen3")
QUERY_CHUNK = 256  # requested positions per attention call (bounds the score matrix)


class _Captured(Exception):
    """Raised by the pre-hook to stop the forward pass before the last decoder layer."""

    def __init__(self, inputs: tuple[torch.Tensor, tuple[Any, Any]]) -> None:
        super().__init__()
        self.inputs = inputs


def supports(model: Any) -> bool:
    """Whether `hidden_at` knows the architecture of `model` (a transformers causal LM)."""
    config = model.config
    if getattr(config, "model_type", None) not in SUPPORTED:
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types and layer_types[-1] != "full_attention":
        return False
    if getattr(config, "sliding_window", None) is not None and not layer_types:
        return False
    backbone = model.base_model
    return hasattr(backbone, "layers") and hasattr(backbone, "norm")


def _hidden_before_last_layer(
    backbone: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, tuple[Any, Any]]:
    """The last decoder layer's input and rotary embeddings, without running that layer."""

    def capture(_module: Any, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        raise _Captured((hidden, kwargs["position_embeddings"]))

    handle = backbone.layers[-1].register_forward_pre_hook(capture, with_kwargs=True)
    try:
        backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _Captured as captured:
        return captured.inputs  # not the exception: its traceback holds the forward's frames
    finally:
        handle.remove()
    raise RuntimeError("the backbone never reached its last decoder layer")


def hidden_at(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    rows: torch.Tensor,
    columns: torch.Tensor,
) -> torch.Tensor:
    """Final (normed) hidden states at (rows[i], columns[i]) of a right-padded batch, as
    `model.base_model(...).last_hidden_state[rows, columns]` would give them."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention

    backbone = model.base_model
    layer = backbone.layers[-1]
    attention = layer.self_attn
    rotate = sys.modules[type(attention).__module__].apply_rotary_pos_emb
    head_dim = attention.head_dim
    hidden, (cos, sin) = _hidden_before_last_layer(backbone, input_ids, attention_mask)
    outputs = torch.empty(len(rows), hidden.shape[-1], dtype=hidden.dtype, device=hidden.device)
    for row in rows.unique().tolist():
        slots = (rows == row).nonzero().squeeze(-1)
        width = int(columns[slots].max()) + 1  # keys after the last query (padding too) unread
        normed = layer.input_layernorm(hidden[row, :width])
        row_cos = cos[min(row, cos.shape[0] - 1), :width]
        row_sin = sin[min(row, sin.shape[0] - 1), :width]
        keys = _heads(attention, "k", attention.k_proj(normed), head_dim)
        _, keys = rotate(keys, keys, row_cos[None], row_sin[None])
        values = _heads(attention, None, attention.v_proj(normed), head_dim)
        for chunk in slots.split(QUERY_CHUNK):
            cols = columns[chunk]
            queries = _heads(attention, "q", attention.q_proj(normed[cols]), head_dim)
            queries, _ = rotate(queries, queries, row_cos[cols][None], row_sin[cols][None])
            causal = torch.arange(width, device=cols.device)[None, :] <= cols[:, None]
            mixed = scaled_dot_product_attention(
                queries,
                keys,
                values,
                attn_mask=causal[None, None],
                scale=attention.scaling,
                enable_gqa=True,
            )
            state = hidden[row, cols] + attention.o_proj(mixed[0].transpose(0, 1).flatten(1))
            state = state + layer.mlp(layer.post_attention_layernorm(state))
            outputs[chunk] = backbone.norm(state)
    return outputs


def _heads(attention: Any, kind: str | None, projected: torch.Tensor, head_dim: int) -> Any:
    """[tokens, heads * head_dim] -> [1, heads, tokens, head_dim], with the per-head norm of
    architectures that have one (Qwen3's q_norm / k_norm)."""
    states = projected.view(projected.shape[0], -1, head_dim)
    norm = getattr(attention, f"{kind}_norm", None) if kind else None
    if norm is not None:
        states = norm(states)
    return states.transpose(0, 1)[None]
