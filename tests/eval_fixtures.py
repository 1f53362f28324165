"""Synthetic evaluation cells in the exact on-disk layout of the `eval` stage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from asap.repro.io import write_json, write_jsonl

Row = tuple[str, bool, int, float]  # task_id, passed, tokens, latency_s


def write_cell(root: Path, method: str, benchmark: str, budget: int, rows: Sequence[Row]) -> None:
    """data/eval/<method>/<benchmark>/<budget>/{generations,results,timings}.jsonl and
    reports/eval/<method>/<benchmark>/<budget>.json under `root`."""
    cell = root / "data" / "eval" / method / benchmark / str(budget)
    write_jsonl(
        cell / "generations.jsonl",
        (
            {"task_id": t, "completion": "pass", "tokens": k, "finish_reason": "stop"}
            for t, _, k, _ in rows
        ),
    )
    write_jsonl(
        cell / "results.jsonl",
        (
            {
                "task_id": t,
                "passed": p,
                "statuses": ["passed" if p else "wrong_answer"],
                "tokens": k,
                "finish_reason": "stop",
            }
            for t, p, k, _ in rows
        ),
    )
    write_jsonl(cell / "timings.jsonl", ({"task_id": t, "latency_s": s} for t, _, _, s in rows))
    n = len(rows)
    passed = sum(p for _, p, _, _ in rows)
    write_json(
        root / "reports" / "eval" / method / benchmark / f"{budget}.json",
        {
            "method": method,
            "benchmark": benchmark,
            "budget": budget,
            "n": n,
            "passed": passed,
            "pass_at_1": 100 * passed / n,
            "avg_tokens": sum(k for _, _, k, _ in rows) / n,
            "avg_latency_s": sum(s for _, _, _, s in rows) / n,
        },
    )


def rows_for(n: int, pass_every: int, tokens: int, latency: float, seed: int = 0) -> list[Row]:
    """Deterministic rows: task i passes when (i + seed) % pass_every == 0; tokens vary by task."""
    return [
        (
            f"task/{i}",
            (i + seed) % pass_every == 0,
            tokens + 7 * ((i * 13 + seed) % 11),
            round(latency + 0.01 * ((i * 5 + seed) % 7), 3),
        )
        for i in range(n)
    ]
