"""SIGKILL in the middle of a long stage, then a rerun: no finished record is redone, nothing
partial is accepted, and the outputs equal those of an uninterrupted run.

Covers the coarse stage (a real teacher endpoint on 127.0.0.1 counting requests), the
per-record caches of `compress@spirit` and `compress@selective_context` (counting the records
the rerun computes), SFT killed while a checkpoint is being written, and an eval cell killed
during generation and during sandbox grading (counting the prompts the rerun generates).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from asap.data.steps import join_steps, split_steps
from asap.repro.io import read_jsonl, write_jsonl
from asap.repro.params import load_params
from tests.dvc_repos import kill_when, run, tool_env
from tests.loopback import LoopbackServer
from tests.real_data import train_records

pytestmark = pytest.mark.slow


def start(workspace: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=workspace,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def start_halting(workspace: Path, target: str, calls: int, *args: str) -> tuple[Any, Path]:
    """`start`, but the stage halts once `target` has returned `calls` times
    (`tests.halt_after`); returns the process and the marker file it creates then."""
    marker = workspace / "halted"
    proc = start(workspace, "tests.halt_after", target, str(calls), str(marker), *args)
    return proc, marker


PUT = "asap.repro.cache:RecordCache.put"


def finish(workspace: Path, *args: str) -> str:
    return run([sys.executable, "-m", *args], workspace).stdout


def cached_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file())


# -- coarse --------------------------------------------------------------------------------


def coarse_workspace(path: Path, base_url: str) -> Path:
    path.mkdir(parents=True)
    teacher = {
        "base_url": base_url,
        "model": "loopback",
        "api_key_env": None,
        "top_p": 1.0,
        "max_tokens": 32,
        "concurrency": 1,
        "timeout": 30,
        "max_retries": 1,
        "seed": 0,
    }
    coarse = {
        "mode": "select",
        "threshold": 0.6,
        "autojunk": False,
        "max_attempts": 2,
        "temperature": 0.0,
        "resample_temperature": 1.0,
        "on_failure": "keep_original",
        "accept_truncated": False,
        "rewrite_output": "teacher",
        "token_count_model": None,
        "teacher": teacher,
    }
    params = {"profile": "embedded", "embedded": {"coarse": coarse}}
    (path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    records = []
    for copy in range(3):  # 12 records: the four real ones, three times under other ids
        for record in train_records():
            cut = join_steps(split_steps(record["cot"])[:4])
            question = f"{record['question']}\n(copy {copy})"  # distinct requests
            records.append(
                {**record, "id": f"{record['id']}#{copy}", "question": question, "cot": cut}
                | {"anchor": "A."}
            )
    write_jsonl(path / "data/anchor/cots.jsonl", records)
    return path


def test_coarse_killed_mid_run_redoes_no_finished_request(tmp_path: Path) -> None:
    # The first try of every record is unparseable, the second keeps steps 1 and 3.
    def respond(body: dict[str, Any]) -> str:
        return "1, 3" if body["temperature"] > 0 else "no numbers here"

    with LoopbackServer(responder=respond) as server:
        workspace = coarse_workspace(tmp_path / "killed", server.base_url)
        cache = workspace / "data/cache/coarse"
        proc, halted = start_halting(workspace, PUT, 9, "stages.coarse")
        kill_when(proc, halted.exists)
        assert not (workspace / "data/coarse/cots.jsonl").exists()  # nothing partial
        assert not (workspace / "reports/coarse.json").exists()
        finished = len(cached_files(cache))
        before = server.count
        finish(workspace, "stages.coarse")
        assert server.count - before == 24 - finished  # 12 records x 2 tries, minus the cached

        straight = coarse_workspace(tmp_path / "straight", server.base_url)
        finish(straight, "stages.coarse")
    out = "data/coarse/cots.jsonl"
    assert (workspace / out).read_bytes() == (straight / out).read_bytes()
    records = list(read_jsonl(workspace / out))
    assert len(records) == 12 and all(r["coarse_attempts"] == 2 for r in records)


# -- compress@spirit, compress@selective_context -------------------------------------------


def compress_workspace(path: Path, repo_root: Path, scorer_dir: Path) -> Path:
    path.mkdir(parents=True)
    params = load_params(repo_root / "params.yaml")
    params["profile"] = "embedded"
    baselines = params["embedded"]["baselines"]
    baselines["scorer"]["model"] = str(scorer_dir)
    baselines["spirit"].update(chunk_records=1, horizon=32)
    baselines["selective_context"]["chunk_records"] = 1
    (path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    records = [
        {**r, "id": f"{r['id']}#{copy}", "cot": join_steps(split_steps(r["cot"])[:5])}
        for copy in range(2)
        for r in train_records()
    ]
    write_jsonl(path / "data/train/cots.jsonl", records)
    return path


@pytest.mark.parametrize("method", ["spirit", "selective_context"])
def test_compress_killed_mid_run_resumes_from_its_cache(
    tmp_path: Path, repo_root: Path, tiny_model_dir: Path, method: str
) -> None:
    # Resuming is a property of the per-record cache, not of the scores: a tiny random model
    # proves it as the embedded one does, in seconds.
    workspace = compress_workspace(tmp_path / "killed", repo_root, tiny_model_dir)
    cache = workspace / f"data/cache/compress/{method}"
    proc, halted = start_halting(workspace, PUT, 3, "stages.compress", method)
    kill_when(proc, halted.exists)
    assert not (workspace / f"data/sft/{method}.jsonl").exists()
    finished = len(cached_files(cache))
    assert finished == 3  # the three results stored before the kill, nothing torn
    rerun = finish(workspace, "stages.compress", method)
    computed = re.search(r"\((\d+) computed, (\d+) cached\)", rerun)
    assert computed is not None, rerun
    assert (int(computed[1]), int(computed[2])) == (8 - finished, finished)

    straight = compress_workspace(tmp_path / "straight", repo_root, tiny_model_dir)
    finish(straight, "stages.compress", method)
    out = f"data/sft/{method}.jsonl"
    assert (workspace / out).read_bytes() == (straight / out).read_bytes()


# -- sft -------------------------------------------------------------------------------------


def sft_workspace(path: Path, model_dir: Path) -> Path:
    from tests.test_sft import make_records, train_params

    path.mkdir(parents=True)
    params = train_params(max_steps=3, save_steps=1, save_total_limit=2)
    params.update(model=str(model_dir), keep_checkpoints=False)
    (path / "params.yaml").write_text(
        yaml.safe_dump({"profile": "embedded", "embedded": {"sft": params}}), encoding="utf-8"
    )
    write_jsonl(path / "data/sft/original.jsonl", make_records(3))
    return path


SAVE_OPTIMIZER = "transformers.trainer:Trainer._save_optimizer_and_scheduler"


def test_sft_killed_while_writing_a_checkpoint_resumes_to_the_same_weights(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from safetensors.torch import load_file

    from asap.repro.io import read_json
    from asap.train.sft import is_complete_checkpoint

    workspace = sft_workspace(tmp_path / "killed", tiny_model_dir)
    checkpoints = workspace / "data/checkpoints/sft/original"
    # halted inside the second checkpoint: weights, optimizer and scheduler written, the RNG
    # state and trainer_state.json (written last) not yet
    proc, halted = start_halting(workspace, SAVE_OPTIMIZER, 2, "stages.sft", "--method", "original")
    kill_when(proc, halted.exists)
    assert is_complete_checkpoint(checkpoints / "checkpoint-1")
    second = checkpoints / "checkpoint-2"
    assert any(second.iterdir()) and not is_complete_checkpoint(second)
    assert not (workspace / "models/original").exists()  # no model from a killed run
    finish(workspace, "stages.sft", "--method", "original")
    timing = read_json(workspace / "reports/train/timings/original.json")
    assert timing["resumed_from_step"] == 1  # the partial checkpoint-2 was not accepted
    assert timing["steps_run_here"] == 2  # step 1 was not trained again

    straight = sft_workspace(tmp_path / "straight", tiny_model_dir)
    finish(straight, "stages.sft", "--method", "original")
    killed = load_file(workspace / "models/original/model.safetensors")
    clean = load_file(straight / "models/original/model.safetensors")
    assert killed.keys() == clean.keys()
    assert all(killed[k].equal(clean[k]) for k in clean)


# -- eval ------------------------------------------------------------------------------------

EVAL_PROBLEMS = 6


def eval_workspace(path: Path, repo_root: Path, base_model_dir: Path) -> Path:
    """The embedded eval settings on the first 6 HumanEval problems, one prompt per batch (one
    cache write each), zero-shot with the embedded model, a 24-token budget."""
    from tests.real_data import benchmark_problems

    path.mkdir(parents=True)
    params = load_params(repo_root / "params.yaml")["embedded"]["eval"]
    params.update(
        base_model=str(base_model_dir),
        problems=None,
        budgets={"humaneval": 24},
        sweep={"methods": [], "budgets": {}},
        prompts={k: str(repo_root / v) for k, v in params["prompts"].items()},
        generation={**params["generation"], "batch_size": 1},
    )
    (path / "params.yaml").write_text(
        yaml.safe_dump({"profile": "embedded", "embedded": {"eval": params}}), encoding="utf-8"
    )
    write_jsonl(
        path / "data/benchmarks/humaneval.jsonl", benchmark_problems("humaneval")[:EVAL_PROBLEMS]
    )
    return path


EVAL_CELL = ("stages.eval", "--method", "zero_shot", "--benchmark", "humaneval")
EVAL_OUTPUTS = ("data/eval/zero_shot/humaneval/24/generations.jsonl",
                "data/eval/zero_shot/humaneval/24/results.jsonl")  # fmt: skip


@pytest.fixture(scope="module")
def straight_eval(tmp_path_factory, repo_root: Path, base_model_dir: Path) -> dict[str, bytes]:
    workspace = eval_workspace(
        tmp_path_factory.mktemp("eval") / "straight", repo_root, base_model_dir
    )
    finish(workspace, *EVAL_CELL)
    return {out: (workspace / out).read_bytes() for out in EVAL_OUTPUTS}


@pytest.mark.xdist_group("kill_eval")  # one worker: both share `straight_eval`
@pytest.mark.parametrize("phase", ["generation", "sandbox"])
def test_eval_killed_mid_run_regenerates_nothing_finished(
    tmp_path: Path, repo_root: Path, base_model_dir: Path, straight_eval, phase: str
) -> None:
    workspace = eval_workspace(tmp_path / "killed", repo_root, base_model_dir)
    cache = workspace / "data/eval_cache/zero_shot/humaneval/24"
    references = workspace / ".cache/eval-reference"

    def landed() -> bool:
        if phase == "generation":
            return len(cached_files(cache)) >= 2
        # every generation written, the sandbox has graded the first reference solutions
        return len(cached_files(cache)) == EVAL_PROBLEMS and len(cached_files(references)) >= 1

    proc = start(workspace, *EVAL_CELL)
    kill_when(proc, landed)
    assert not any((workspace / out).exists() for out in EVAL_OUTPUTS)  # nothing partial
    assert not (workspace / "reports/eval/zero_shot/humaneval/24.json").exists()
    finished = len(cached_files(cache))

    rerun = finish(workspace, *EVAL_CELL)
    generated = re.findall(r"batch \d+/\d+: (\d+) prompts", rerun)
    # the rerun generated exactly the prompts without a cached generation: none finished redone
    assert sum(map(int, generated)) == EVAL_PROBLEMS - finished, rerun
    for out, expected in straight_eval.items():
        assert (workspace / out).read_bytes() == expected, out
