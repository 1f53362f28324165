"""CoT compression: the paper's baselines and ablations, one compressor per method.

A compressor has

- ``settings() -> dict``: everything besides its models that shapes its output;
- ``requested_ratio``: the fraction of CoT tokens it aims to keep, or None;
- ``modules``: the modules whose code determines its output (for the per-record cache key);
- ``compress(records) -> list[dict]``: for each training record (`asap.data.cots` schema; it reads
  `id`, `question` and `cot`) a dict with the compressed ``cot`` and any per-record fields for
  the SFT record (e.g. TokenSkip's `tokenskip_ratio` and `prompt_suffix`); other keys are
  diagnostics kept in the per-record cache only (`SFT_FIELDS` lists what reaches the dataset).

Every compressor changes only the CoT: `asap.compression.dataset` (the `compress` stage's work)
copies question, answer, code, source and meta verbatim, through the per-record cache. An empty
CoT stays empty.

`BUILDERS` maps every method whose SFT dataset the `compress` stage writes (the entries of
`asap.methods.METHODS` with ``sft_stage == "compress"``) to a function that builds its
compressor from its params section. Methods that score with a language model share one scorer
(`asap.scoring.logprobs`, params ``baselines.scorer``), the same model as the surprisal stage's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from asap.scoring.logprobs import Scorer

SFT_FIELDS = ("tokenskip_ratio", "prompt_suffix")


def cache_record(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a training record a compressor's result depends on (its per-record cache
    key, `asap.repro.cache`)."""
    return {"id": record["id"], "question": record["question"], "cot": record["cot"]}


class Compressor(Protocol):
    requested_ratio: float | None
    modules: tuple[str, ...]  # what computes results: their code is part of the cache key

    def settings(self) -> dict[str, Any]: ...

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...


class Models:
    """Models a compressor uses, loaded on first use; `fingerprints` identifies them."""

    def __init__(self, scorer_params: dict[str, Any], where: str) -> None:
        self.scorer_params, self.where = scorer_params, where
        self.fingerprints: dict[str, str] = {}
        self._scorer: Scorer | None = None

    @property
    def context(self) -> str:
        return str(self.scorer_params.get("context", "raw"))

    def scorer(self) -> Scorer:
        """The shared scorer (`asap.scoring.logprobs.load_scorer`) from the `scorer` params
        section."""
        if self._scorer is None:
            from asap.model.digest import model_fingerprint
            from asap.repro.precision import dtype_name
            from asap.scoring.logprobs import load_scorer

            p = self.scorer_params
            self._scorer = load_scorer(
                p["model"],
                dtype=p.get("dtype", "auto"),
                device=p.get("device"),
                batch_size=int(p.get("batch_size", 4)),
                max_context=p.get("max_context"),
                min_left_context=p.get("min_left_context"),
            )
            self.fingerprints["scorer"] = model_fingerprint(p["model"])
            self.fingerprints["scorer_settings"] = repr(
                (
                    dtype_name(p.get("dtype", "auto"), p.get("device")),
                    self.context,
                    self._scorer.max_context,
                    self._scorer.min_left_context,
                )
            )
        return self._scorer

    def classifier(self, settings: dict[str, Any], where: str) -> Any:
        """The LLMLingua-2 compressor for `settings["classifier"]` (error names `where`)."""
        from asap.compression.llmlingua2 import load_classifier
        from asap.model.digest import model_fingerprint

        name = str(settings.get("classifier") or "")
        compressor = load_classifier(
            name,
            f"{where}.classifier",
            device=str(settings.get("device", "cpu")),
            max_batch_size=int(settings.get("batch_size", 50)),
        )
        self.fingerprints["classifier"] = model_fingerprint(name)
        return compressor


Builder = Callable[[dict[str, Any], Models, str], Compressor]


def _unchanged(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.ablations import Unchanged

    return Unchanged()


def _selective_context(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.selective_context import SelectiveContext

    return SelectiveContext(
        models.scorer(),
        float(settings["ratio"]),
        str(settings["unit"]),
        models.context,
        rule=str(settings.get("rule", "token_budget")),
        aggregate=str(settings.get("aggregate", "sum")),
    )


def _spirit(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.spirit import Spirit

    horizon = settings.get("horizon")
    return Spirit(
        models.scorer(),
        float(settings["ratio"]),
        models.context,
        None if horizon is None else int(horizon),
    )


def _llmlingua2(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.llmlingua2 import LLMLingua2

    return LLMLingua2(
        models.classifier(settings, where),
        float(settings["rate"]),
        list(settings.get("force_tokens", ["\n"])),
        str(settings.get("granularity", "step")),
    )


def _tokenskip(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.llmlingua2 import TokenSkip

    return TokenSkip(
        models.classifier(settings, where),
        [float(r) for r in settings["ratios"]],
        int(settings["seed"]),
        str(settings["prompt_suffix"]),
        list(settings.get("force_tokens", ["\n"])),
        str(settings.get("granularity", "step")),
    )


def _wo_coarse(settings: dict[str, Any], models: Models, where: str) -> Compressor:
    from asap.compression.ablations import SurprisalOnly

    return SurprisalOnly(
        models.scorer(), int(settings["budget"]), str(settings["mode"]), models.context
    )


BUILDERS: dict[str, Builder] = {
    "original": _unchanged,
    "selective_context": _selective_context,
    "llmlingua2": _llmlingua2,
    "tokenskip": _tokenskip,
    "spirit": _spirit,
    "wo_coarse": _wo_coarse,
    "wo_fine": _unchanged,
}


def build(method: str, settings: dict[str, Any], models: Models, where: str) -> Compressor:
    """The compressor of `method` from its params section `settings` (found at `where`)."""
    if method not in BUILDERS:
        raise KeyError(f"no compressor for method {method!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[method](settings, models, where)
