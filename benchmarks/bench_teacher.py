"""Teacher client throughput: 32 requests in flight vs one at a time.

    python benchmarks/bench_teacher.py [--delay 0.5] [--requests 128] [--concurrency 32]

The endpoint is a real HTTP server on 127.0.0.1 that answers every chat completion after a fixed
delay (a stand-in for a remote LLM's latency). Both runs go through `Teacher.map` with the disk
cache on (fresh directory each run, so every request is real). Target: >= 20x the sequential
throughput with 32 in flight.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asap.teacher.client import Teacher, TeacherConfig  # noqa: E402
from tests.loopback import LoopbackServer  # noqa: E402


def throughput(base_url: str, concurrency: int, requests: int) -> float:
    """Completed requests per second."""
    config = TeacherConfig(model="bench", base_url=base_url, concurrency=concurrency, timeout=60)
    prompts = [[{"role": "user", "content": f"request {i}"}] for i in range(requests)]
    with tempfile.TemporaryDirectory() as cache, Teacher(config, cache) as teacher:
        started = time.perf_counter()
        results = teacher.map(teacher.complete, prompts)
        elapsed = time.perf_counter() - started
        assert len(results) == requests and teacher.counters.completions == requests
    return requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.5, help="server delay per request (s)")
    parser.add_argument("--requests", type=int, default=128, help="requests in the parallel run")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    serial_requests = max(4, min(args.requests, int(8 / args.delay)))
    with LoopbackServer(delay_s=args.delay) as server:
        throughput(server.base_url, 4, 8)  # warm-up: imports, connection pool
        serial = throughput(server.base_url, 1, serial_requests)
        parallel = throughput(server.base_url, args.concurrency, args.requests)
        in_flight = server.max_in_flight
    speedup = parallel / serial
    print(f"endpoint delay {args.delay:.2f} s per request (loopback HTTP server)")
    print(f"one at a time:   {serial:7.2f} requests/s ({serial_requests} requests)")
    print(
        f"{args.concurrency} in flight:    {parallel:7.2f} requests/s ({args.requests} requests, "
        f"max {in_flight} seen in flight by the server)"
    )
    print(f"speedup: {speedup:.1f}x (target >= 20x): {'PASS' if speedup >= 20 else 'FAIL'}")


if __name__ == "__main__":
    main()
