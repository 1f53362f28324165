"""Stage `sft@<method>`: fully fine-tune the base model on one method's SFT dataset.

Run as `python -m stages.sft --method NAME`. Reads data/sft/<NAME>.jsonl and params
`${profile}.sft`. Outputs:
  models/<NAME>/                          fine-tuned model, tokenizer and chat template
  reports/train/<NAME>.json               tokens per sample, steps, final loss, records filtered
  reports/train/timings/<NAME>.json       seconds per step and run time (measurements)
  reports/figures/train_loss_<NAME>.png   training-loss curve
Trainer checkpoints go to data/checkpoints/sft/<NAME>/, scratch that is no DVC output (a
killed run resumes from them; a clone that pulled the model never needs them). A training with
the fingerprint of one another method already finished, whose model folder is unchanged, is
copied from it instead (`asap.train.reuse`, index in `sft.trained_runs`); the timings say so.

With `sft.num_processes > 1` the stage re-launches itself on that many processes through
`accelerate launch --config_file <sft.accelerate_config>` (FSDP or DeepSpeed ZeRO-3).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from asap.data.sft import restrict_to, validate_sft_records
from asap.methods import Method, get_method
from asap.model.base import resolve_model_dir
from asap.model.digest import model_digest
from asap.report.figures import plot_not_run
from asap.report.run_label import run_label
from asap.repro import not_run
from asap.repro.io import DataError, read_json, read_jsonl, write_json
from asap.repro.params import stage_params
from asap.repro.provenance import local_inputs, provenance
from asap.train.reuse import TrainedRun, TrainedRuns
from asap.train.sft import (
    per_process_accumulation,
    plot_loss,
    prepare_run,
    train_sft,
)

SFT_DIR = Path("data/sft")
MODELS_DIR = Path("models")
CHECKPOINTS_DIR = Path("data/checkpoints/sft")
REPORTS_DIR = Path("reports/train")
TIMINGS_DIR = REPORTS_DIR / "timings"
FIGURES_DIR = Path("reports/figures")
COMPRESSION_REPORTS = Path("reports/compression")
SELECTION = Path("data/sft_records.json")  # the sft_records stage: which records to train on
RELAUNCHED = "ASAP_SFT_RELAUNCHED"  # set in the environment of the processes a relaunch starts


def relaunch_command(method: str, num_processes: int, config_file: str) -> list[str]:
    """The `accelerate launch` command that runs this stage on `num_processes` processes."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        config_file,
        "--num_processes",
        str(num_processes),
        "-m",
        "stages.sft",
        "--method",
        method,
    ]


def skip_not_run(method: Method, dataset: Path, label: str | None = None) -> int:
    """An empty dataset is legitimate only for a method its compression stage did not run."""
    reason = not_run.reason_in(COMPRESSION_REPORTS / f"{method.name}.json")
    if reason is None:
        raise DataError(f"{dataset}: empty SFT dataset, but method {method.name!r} was run")
    not_run.mark_folder(MODELS_DIR / method.name, method.name, reason)
    write_json(REPORTS_DIR / f"{method.name}.json", not_run.record(method.name, reason))
    write_json(TIMINGS_DIR / f"{method.name}.json", not_run.record(method.name, reason))
    plot_not_run(
        FIGURES_DIR / f"train_loss_{method.name}.png",
        f"SFT loss: {method.label}",
        reason,
        label,
    )
    print(f"sft@{method.name}: not run ({reason})")
    return 0


def method_records(method: Method, params: dict) -> list[dict] | None:
    """The records `method` trains on; None for a method its compression stage did not run."""
    dataset = SFT_DIR / f"{method.name}.jsonl"
    records = list(read_jsonl(dataset))
    if not records:
        return None
    validate_sft_records(records, dataset, method.name)
    if params.get("same_records"):
        if not SELECTION.exists():
            raise DataError(f"sft.same_records is on but {SELECTION} is missing: run sft_records")
        selected = restrict_to(records, read_json(SELECTION), SELECTION)
        print(f"sft@{method.name}: {len(selected)} of {len(records)} records common to all")
        records = selected
    return records


def write_outputs(
    method: Method, params: dict, base: Path, report: dict, timing: dict, history: list[dict]
) -> None:
    """The report (with provenance), timings and loss curve of a model trained (or copied) from
    the base model folder `base`."""
    dataset = SFT_DIR / f"{method.name}.jsonl"
    origin = provenance(f"sft@{method.name}", params, [dataset, *local_inputs(base)])
    write_json(
        REPORTS_DIR / f"{method.name}.json",
        {"method": method.name, **report, "provenance": origin},
    )
    write_json(TIMINGS_DIR / f"{method.name}.json", {"method": method.name, **timing})
    plot_loss(
        history, FIGURES_DIR / f"train_loss_{method.name}.png", f"SFT loss: {method.label}",
        run_label(),
    )  # fmt: skip
    print(
        f"sft@{method.name}: {report['steps']} steps on {report['records_trained']} records "
        f"({report['records_filtered']} over max_seq_length), final loss "
        f"{report['final_loss']}, {timing['seconds_per_step']} s/step"
        + (f" (copied from sft@{timing['reused_from']})" if "reused_from" in timing else "")
    )


def trained_runs(params: dict) -> TrainedRuns | None:
    index = params.get("trained_runs")
    return None if index is None else TrainedRuns(index, MODELS_DIR, ["stages.sft"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="method whose SFT dataset to train on")
    args = parser.parse_args(argv)
    method = get_method(args.method)
    if not method.finetuned:
        parser.error(f"method {method.name!r} is evaluated without fine-tuning")
    params = stage_params("sft")

    num_processes = int(params.get("num_processes", 1))
    per_process_accumulation(params["training"], num_processes)  # refuse before launching
    records = method_records(method, params)
    if records is None:
        return skip_not_run(method, SFT_DIR / f"{method.name}.jsonl", run_label())
    base = resolve_model_dir(params["model"])
    runs = trained_runs(params)
    prepared = None  # this process's prepare_run, if it needed one already
    if "WORLD_SIZE" not in os.environ:  # the stage's own process, not one of a launch's ranks
        if runs is not None:
            prepared = prepare_run(base, records, params)
            done = runs.find(prepared[1], method.name)
            if done is not None:
                started = time.perf_counter()
                runs.copy_model(done, MODELS_DIR / method.name)
                copy_s = round(time.perf_counter() - started, 2)
                timing = {**done.timing, "reused_from": done.method, "copy_s": copy_s}
                write_outputs(method, params, base, done.report, timing, done.history)
                return 0
        if num_processes > 1:
            if os.environ.get(RELAUNCHED):
                # the launcher started a plain process: relaunching again would never end
                raise DataError(
                    f"{params['accelerate_config']}: `accelerate launch` started one process "
                    f"without a process group, not {num_processes}; use a config whose "
                    "launcher starts them (distributed_type MULTI_GPU, FSDP or DEEPSPEED, with "
                    "use_cpu: false; the Trainer still runs on the CPU when sft.device is cpu "
                    "or no GPU is there)"
                )
            cmd = relaunch_command(method.name, num_processes, params["accelerate_config"])
            print("sft: " + " ".join(cmd[1:]), flush=True)
            env = {**os.environ, RELAUNCHED: "1"}
            return subprocess.run(cmd, check=False, env=env).returncode

    out_dir = MODELS_DIR / method.name
    run = train_sft(
        base, records, params, out_dir, CHECKPOINTS_DIR / method.name, prepared_run=prepared
    )
    if run.is_main_process:
        write_outputs(method, params, base, run.report, run.timing, run.history)
        if runs is not None:
            trained = TrainedRun(
                method.name, model_digest(out_dir), run.report, run.timing, run.history
            )
            runs.add(run.fingerprint, trained)
    return 0


if __name__ == "__main__":
    sys.exit(main())
