"""The paper profile in miniature: the `-S` overrides of sizes and endpoints, and its inputs.

Everything else is the paper profile as committed. What is overridden, and why:
  * sizes: 2 training records, 2 problems per benchmark, 32-token budgets (and a 16/32 sweep),
    a 1,024-token pruning budget, SPIRIT rescoring 64 tokens after each removed step (exact
    rescoring runs the LM head over the 152k vocabulary for every later token of every step:
    minutes per record on a CPU), one training epoch;
  * endpoints: a tiny random Qwen2 model with the paper's real tokenizer in place of the
    7B download, the teacher at an OpenAI-compatible server on 127.0.0.1, local copies of
    the training data and LiveCodeBench (public tests) in place of the hub, a local LLMLingua-2
    classifier, and the transformers backends and the CPU where vLLM and CUDA need a GPU.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN = "data/raw/codeforces_cots/codeforces_cots_solutions_py_decontaminated_sample.jsonl"
LCB_INDEX = "data/raw/livecodebench/lcb_problems_v1_v6_index.jsonl"
BENCHMARKS = ("humaneval", "humanevalplus", "lcb_v1_v3", "lcb_v4_v5", "leetcode")
BUDGET, SWEEP = 32, (16, 32)


def _per_benchmark(value: object) -> str:
    return "{" + ", ".join(f"{name}: {value}" for name in BENCHMARKS) + "}"


def overrides(tiny_model: Path, classifier: Path, teacher_url: str) -> list[str]:
    """`dvc exp run -S` arguments (Hydra override syntax) for the miniature paper run."""
    sweep = "[" + ", ".join(str(b) for b in SWEEP) + "]"
    items = [
        "profile=paper",
        # data: local copies, 2 training rows
        "~paper.data.train.source.hub",
        "~paper.data.train.source.config",
        "~paper.data.train.source.split",
        f"+paper.data.train.source.path={TRAIN}",
        "paper.data.train.limit=2",
        # models: a tiny random Qwen2 with the paper's tokenizer
        "paper.base_model.kind=local",
        "~paper.base_model.repo_id",
        "~paper.base_model.revision",
        f"+paper.base_model.path={tiny_model}",
        # teacher stages: a local OpenAI-compatible server
        f"paper.anchor.teacher.base_url={teacher_url}",
        f"paper.coarse.teacher.base_url={teacher_url}",
        # scoring and compression on the CPU with the transformers backend
        "paper.surprisal.backend=transformers",
        "paper.surprisal.budget=1024",
        "paper.baselines.wo_coarse.budget=1024",
        "paper.baselines.spirit.horizon=64",
        f"paper.baselines.llmlingua2.classifier={classifier}",
        "paper.baselines.llmlingua2.device=cpu",
        f"paper.baselines.tokenskip.classifier={classifier}",
        "paper.baselines.tokenskip.device=cpu",
        # training: one epoch
        "paper.sft.training.num_train_epochs=1",
        # evaluation: 2 problems, small budgets, transformers on the CPU
        "paper.eval.problems=2",
        f"paper.eval.budgets={_per_benchmark(BUDGET)}",
        f"paper.eval.sweep.budgets={_per_benchmark(sweep)}",
        "paper.eval.generation.backend=transformers",
        "+paper.eval.generation.device=cpu",
        f"paper.stats.main_budget={_per_benchmark(BUDGET)}",
        f"paper.stats.sweep_budgets={_per_benchmark(sweep)}",
    ]
    for name in ("lcb_v1_v3", "lcb_v4_v5"):
        items += [
            f"~paper.data.benchmarks.{name}.hub",
            f"~paper.data.benchmarks.{name}.releases",
            f"+paper.data.benchmarks.{name}.path={LCB_INDEX}",
        ]
    return [arg for item in items for arg in ("-S", item)]


RUNNING = re.compile(r"Running stage '([^']+)'")


def build_inputs(
    root: Path, paper_tokenizer_dir: Path, embedded_model_dir: Path
) -> dict[str, Path]:
    """The tiny scorer (the paper's tokenizer), a tiny second-backbone student with a tokenizer
    of its own (the embedded model's), and a deterministic LLMLingua-2 classifier."""
    from tests.real_data import train_records
    from tests.tiny_models import keyed_token_classifier, tiny_causal_lm

    texts = [record["cot"] for record in train_records()]
    return {
        "scorer": tiny_causal_lm(paper_tokenizer_dir, root / "qwen2", "qwen2"),
        "student": tiny_causal_lm(embedded_model_dir, root / "llama", "llama", seed=1),
        "classifier": keyed_token_classifier(texts, root / "classifier", "sentencepiece"),
    }


def exp_run(clone: Path, args: list[str]) -> list[str]:
    """`dvc exp run ARGS` in `clone` (the teacher's key from the environment, as in the README);
    the stages it ran."""
    from tests.dvc_repos import PIPELINE_S, run

    result = run(
        ["dvc", "exp", "run", *args], clone, timeout=PIPELINE_S, DEEPSEEK_API_KEY="miniature"
    )
    return RUNNING.findall(result.stdout)


@dataclass(frozen=True)
class PaperRun:
    clone: Path  # the run's clone, its results committed
    ran: list[str]  # the stages `dvc exp run` ran
    inputs: dict[str, Path]  # build_inputs
    teacher: Any  # tests.loopback.LoopbackServer, with the requests it answered


def run_paper_profile(repo_root: Path, clone: Path, inputs: dict[str, Path]) -> Iterator[PaperRun]:
    """Clone, run the paper profile with the teacher served on 127.0.0.1, commit the results;
    yields while the teacher still serves."""
    from tests.dvc_repos import run
    from tests.loopback import LoopbackServer, ScriptedTeacher

    run(["git", "clone", "--quiet", str(repo_root), str(clone)], repo_root)
    with LoopbackServer(responder=ScriptedTeacher()) as teacher:
        ran = exp_run(clone, overrides(inputs["scorer"], inputs["classifier"], teacher.base_url))
        run(["git", "add", "--all"], clone)
        run(["git", "commit", "--quiet", "-m", "miniature paper run"], clone)
        yield PaperRun(clone, ran, inputs, teacher)
