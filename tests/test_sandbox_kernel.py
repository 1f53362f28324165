"""The sandbox against kernel facilities that no namespace isolates (keyrings, bpf, ...).

Each hostile sample returns the right answer only when its channel is open, so a pass means
the channel works; the tests want a wrong answer. A control with the same machinery passes.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
from dataclasses import asdict
from typing import Any

import pytest

from asap.eval import sandbox_harness
from asap.eval.grading import run_tests
from asap.eval.sandbox import Limits, Sandbox, dumps_value, loads_value
from tests.test_sandbox import CHECK_PROBLEM, FAST, REPO, SETTINGS

X86_64 = os.uname().machine == "x86_64"
needs_filter = pytest.mark.skipif(not X86_64, reason="the seccomp filter is x86_64 only")
NUMBERS = {"x86_64": (250, 248, 39), "aarch64": (219, 217, 172)}  # keyctl, add_key, getpid
KEYCTL, ADD_KEY, GETPID = NUMBERS.get(os.uname().machine, (-1, -1, -1))
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
KEYRINGS = KEYCTL > 0 and sandbox_harness._keyctl(0, KEY_SPEC_SESSION_KEYRING, 0)[0] >= 0
needs_keyrings = pytest.mark.skipif(not KEYRINGS, reason="no keyrings here: nothing to reach")

# Raw system calls through ctypes: (result, errno). Runs in the samples and in the driver.
SYSCALLS = (
    "import ctypes\n"
    "LIBC = ctypes.CDLL(None, use_errno=True)\n"
    "LIBC.syscall.restype = ctypes.c_long\n"
    "def syscall(number, *args):\n"
    "    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]\n"
    "    ctypes.set_errno(0)\n"
    "    result = LIBC.syscall(ctypes.c_long(number), *args)\n"
    "    return result, ctypes.get_errno() if result == -1 else 0\n"
    "def read_key(keyring, description):\n"
    f"    key, _ = syscall({KEYCTL}, 10, keyring, b'user', description.encode(), 0)  # SEARCH\n"
    "    if key <= 0:\n"
    "        return None\n"
    "    buffer = ctypes.create_string_buffer(256)\n"
    f"    size, _ = syscall({KEYCTL}, 11, key, buffer, 256)  # READ\n"
    "    return buffer.raw[:size].decode() if size > 0 else None\n"
)
# Passes whatever the sandbox denies: the samples' machinery (ctypes, syscall) works in a run.
CONTROL = SYSCALLS + (
    f"PID, _ = syscall({GETPID})\ndef add(a, b):\n    return a + b if PID > 0 else 0\n"
)


def read_secret(keyring: int, description: str, secret: str) -> str:
    """Passes only if the run reads `secret` under `description` in `keyring`."""
    return SYSCALLS + (
        f"SEEN = read_key({keyring}, {description!r})\n"
        f"def add(a, b):\n    return a + b if SEEN == {secret!r} else a + b + 1\n"
    )


def add_user_key(description: str, secret: str) -> str:
    """Passes only if the run adds a key to its uid's user keyring."""
    return SYSCALLS + (
        f"KEY, _ = syscall({ADD_KEY}, b'user', {description!r}.encode(), {secret!r}.encode(),"
        f" {len(secret)}, {KEY_SPEC_USER_KEYRING})\n"
        "def add(a, b):\n    return a + b if KEY > 0 else a + b + 1\n"
    )


# One evaluating process: optionally holds a secret in a session keyring of its own (so that
# nothing outside it sees the secret), then grades each program in a sandbox of one slot.
DRIVER = SYSCALLS + (
    "import json, sys\n"
    "from asap.eval.grading import EvalSettings, run_tests\n"
    "from asap.eval.sandbox import Limits, Sandbox\n"
    "job = json.loads(sys.argv[1])\n"
    "if job['secret']:\n"
    "    description, secret = job['secret']\n"
    f"    assert syscall({KEYCTL}, 1, None)[0] > 0  # JOIN_SESSION_KEYRING, a new one\n"
    f"    key, err = syscall({ADD_KEY}, b'user', description.encode(), secret.encode(),\n"
    f"                       len(secret), {KEY_SPEC_SESSION_KEYRING})\n"
    "    assert key > 0, err\n"
    f"    assert read_key({KEY_SPEC_SESSION_KEYRING}, description) == secret\n"
    "limits = Limits(**job['limits'])\n"
    "settings = EvalSettings(limits=limits, check_cpu_s=1.5, check_factor=0.0, retries=0)\n"
    "sandbox = Sandbox(limits, isolation=job['isolation'], slot=job['slot'])\n"
    "statuses = [run_tests(sandbox, job['problem'], p, settings) for p in job['programs']]\n"
    "print(json.dumps({'uid': sandbox.uid, 'statuses': statuses}))\n"
)


def evaluate_in_new_process(
    programs: list[str], slot: int, isolation: str = "auto", secret: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Statuses of `programs` graded by a separate evaluating process (a later call)."""
    job = {
        "programs": programs,
        "slot": slot,
        "isolation": isolation,
        "secret": secret,
        "limits": asdict(FAST),
        "problem": CHECK_PROBLEM,
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(job)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def fresh_secret() -> tuple[str, str]:
    return f"asap-test-{uuid.uuid4().hex}", uuid.uuid4().hex


@needs_keyrings
@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_runs_cannot_read_the_evaluating_process_session_keyring(isolation: str) -> None:
    description, secret = fresh_secret()
    hostile = read_secret(KEY_SPEC_SESSION_KEYRING, description, secret)
    found = evaluate_in_new_process(
        [CONTROL, hostile], slot=31, isolation=isolation, secret=(description, secret)
    )
    assert found["statuses"] == [["passed"], ["wrong_answer"]]


@needs_keyrings
@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_user_keyring_carries_nothing_between_runs_of_one_call(isolation: str) -> None:
    sandbox = Sandbox(FAST, isolation=isolation, slot=32)
    if not X86_64 and sandbox.uid is None:
        pytest.skip("without the filter, only a uid of its own has its user keyrings emptied")
    description, secret = fresh_secret()
    assert run_tests(sandbox, CHECK_PROBLEM, CONTROL, SETTINGS) == ["passed"]
    writer = run_tests(sandbox, CHECK_PROBLEM, add_user_key(description, secret), SETTINGS)
    if X86_64:  # elsewhere add_key stays allowed, but each run starts from an empty keyring
        assert writer == ["wrong_answer"]
    reader = read_secret(KEY_SPEC_USER_KEYRING, description, secret)
    assert run_tests(sandbox, CHECK_PROBLEM, reader, SETTINGS) == ["wrong_answer"]


@needs_keyrings
def test_user_keyring_carries_nothing_to_a_later_call() -> None:
    if not X86_64 and os.geteuid() != 0:
        pytest.skip("without the filter, only a uid of its own has its user keyrings emptied")
    description, secret = fresh_secret()
    first = evaluate_in_new_process([CONTROL, add_user_key(description, secret)], slot=33)
    reader = read_secret(KEY_SPEC_USER_KEYRING, description, secret)
    second = evaluate_in_new_process([CONTROL, reader], slot=33)
    assert first["uid"] == second["uid"]  # the same worker uid, so the same user keyring
    assert first["statuses"][0] == second["statuses"][0] == ["passed"]
    if X86_64:
        assert first["statuses"][1] == ["wrong_answer"]
    assert second["statuses"][1] == ["wrong_answer"]


# x86_64 numbers and harmless arguments (NULL pointers, bad descriptors, flag mixes the kernel
# rejects) for each denied call: where the filter lets one through, it fails or does nothing.
CLONE_NEWUSER, CLONE_FS = 0x10000000, 0x200
DENIED = {
    "socket": (41, 2, 1, 0),
    "socketpair": (53, 1, 2, 0, None),  # AF_UNIX, SOCK_DGRAM: stream pairs stay allowed
    "connect": (42, -1, None, 0),
    "io_uring_setup": (425, 0, None),
    "add_key": (248, None, None, None, 0, 0),
    "request_key": (249, None, None, None, 0),
    "keyctl": (250, 0, KEY_SPEC_SESSION_KEYRING, 0),
    "bpf": (321, -1, None, 0),
    "perf_event_open": (298, None, 0, -1, -1, 0),
    "userfaultfd": (323, -1),
    "kexec_load": (246, 0, 0, None, 0),
    "kexec_file_load": (320, -1, -1, 0, None, 0),
    "init_module": (175, None, 0, None),
    "finit_module": (313, -1, None, 0),
    "delete_module": (176, None, 0),
    "create_module": (174, None, 0),
    "get_kernel_syms": (177, None),
    "query_module": (178, None, 0, None, 0, None),
    "nfsservctl": (180, 0, None, None),
    "reboot": (169, 0, 0, 0, None),
    "acct": (163, None),
    "quotactl": (179, 0, None, 0, None),
    "quotactl_fd": (443, -1, 0, 0, None),
    "swapon": (167, None, 0),
    "swapoff": (168, None),
    "settimeofday": (164, None, None),
    "clock_settime": (227, 0, None),
    "clock_adjtime": (305, 0, None),
    "adjtimex": (159, None),
    "ioperm": (173, 0, 0, 0),
    "iopl": (172, 0),
    "lookup_dcookie": (212, 0, None, 0),
    "syslog": (103, 10, None, 0),
    "mount": (165, None, None, None, 0, None),
    "umount2": (166, None, 0),
    "pivot_root": (155, None, None),
    "open_tree": (428, -1, None, 0),
    "move_mount": (429, -1, None, -1, None, 0),
    "fsopen": (430, None, 0),
    "fsconfig": (431, -1, 0, None, None, 0),
    "fsmount": (432, -1, 0, 0),
    "fspick": (433, -1, None, 0),
    "mount_setattr": (442, -1, None, 0, None, 0),
    "name_to_handle_at": (303, -1, None, None, None, 0),
    "open_by_handle_at": (304, -1, None, 0),
    "unshare": (272, 0),
    "setns": (308, -1, 0),
    "clone": (56, CLONE_NEWUSER | CLONE_FS, 0, None, None, 0),
    "ptrace": (101, -1, 0, 0, 0),
    "process_vm_readv": (310, 0, None, 0, None, 0, 0),
    "process_vm_writev": (311, 0, None, 0, None, 0, 0),
    "pidfd_getfd": (438, -1, -1, 0),
    "kcmp": (312, 0, 0, -1, 0, 0),
    "move_pages": (279, 0, 0, None, None, None, 0),
    "migrate_pages": (256, 0, 0, None, None),
    "sysfs": (139, 3),
    "ustat": (136, 0, None),
    "uselib": (134, None),
    "_sysctl": (156, None),
}
PROBE = SYSCALLS + (
    "CALLS = {calls!r}\n"
    "def probe():\n"
    "    return {{name: syscall(*call)[1] for name, call in CALLS.items()}}\n"
)


def probe(sandbox: Sandbox, calls: dict[str, tuple]) -> dict[str, int]:
    """errno of each call made in a run (0: it succeeded)."""
    program = PROBE.format(calls=calls)
    outcome = sandbox.run_calls(program, "probe", [(dumps_value([]), dumps_value({}), 2.0)])
    assert outcome.loaded and outcome.cases[0].kind == "ok", outcome
    return loads_value(outcome.cases[0].value)


@needs_filter
@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_each_denied_call_is_answered_eacces(isolation: str) -> None:
    # the numbers here are typed independently of the harness's; these two depend on arguments
    assert set(DENIED) == {*sandbox_harness.DENIED_CALLS, "socketpair", "clone"}
    sandbox = Sandbox(FAST, isolation=isolation, slot=34)
    seen = probe(sandbox, DENIED)
    assert seen == dict.fromkeys(DENIED, errno.EACCES)
    # clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc use clone
    assert probe(sandbox, {"clone3": (435, None, 0)}) == {"clone3": errno.ENOSYS}


# What runs need keeps working: threads (clone3 refused, clone without namespace flags),
# fork, multiprocessing (pools, queues, stream pipes), asyncio and numpy.
EVERYDAY = """
import asyncio, concurrent.futures, multiprocessing, os, threading
import numpy as np

def square(x):
    return x * x

async def twice(x):
    await asyncio.sleep(0)
    return 2 * x

def everyday(n):
    found = {}
    box = []
    thread = threading.Thread(target=box.append, args=(n,))
    thread.start()
    thread.join()
    found["thread"] = box == [n]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        found["thread_pool"] = list(pool.map(square, range(n))) == [i * i for i in range(n)]
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    found["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
    with multiprocessing.Pool(2) as pool:
        found["pool"] = pool.map(square, range(n)) == [i * i for i in range(n)]
    queue = multiprocessing.Queue()
    worker = multiprocessing.Process(target=queue.put, args=(n,))
    worker.start()
    found["queue"] = queue.get(timeout=30) == n
    worker.join()
    left, right = multiprocessing.Pipe()
    left.send(n)
    found["pipe"] = right.recv() == n
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        found["process_pool"] = list(pool.map(square, range(n))) == [i * i for i in range(n)]

    async def main():
        return await asyncio.gather(*(twice(i) for i in range(n)))

    found["asyncio"] = asyncio.run(main()) == [2 * i for i in range(n)]
    found["numpy"] = int(np.arange(n) @ np.arange(n)) == sum(i * i for i in range(n))
    return found
"""
ROOMY = Limits(case_cpu_s=20.0, load_cpu_s=20.0, sample_cpu_s=40.0, wall_factor=3.0)


@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_threads_processes_asyncio_and_numpy_keep_working(isolation: str) -> None:
    sandbox = Sandbox(ROOMY, isolation=isolation, slot=35)
    outcome = sandbox.run_calls(EVERYDAY, "everyday", [(dumps_value([5]), dumps_value({}), 20.0)])
    assert outcome.loaded, outcome.load_error
    assert outcome.cases[0].kind == "ok", outcome.cases[0].error
    found = loads_value(outcome.cases[0].value)
    assert found == dict.fromkeys(found, True) and len(found) == 9, found


@needs_keyrings
def test_runs_start_in_a_fresh_session_keyring() -> None:
    """Where the filter does not apply, a run still sees none of the evaluating process's
    keyrings: the harness gives it a new, empty session keyring before the program runs."""
    sandbox = Sandbox(FAST, slot=36)
    info = sandbox.probe(sandbox.isolation)
    assert info["session_keyring"] is True
    description, secret = fresh_secret()
    check = SYSCALLS + (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import sandbox_harness\n"
        f"assert syscall({KEYCTL}, 1, None)[0] > 0\n"
        f"assert syscall({ADD_KEY}, b'user', {description!r}.encode(), {secret!r}.encode(),"
        f" {len(secret)}, {KEY_SPEC_SESSION_KEYRING})[0] > 0\n"
        f"before = read_key({KEY_SPEC_SESSION_KEYRING}, {description!r})\n"
        "sandbox_harness._fresh_session_keyring()\n"
        f"print(json.dumps([before, read_key({KEY_SPEC_SESSION_KEYRING}, {description!r})]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", check, str(REPO / "asap" / "eval")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == [secret, None]
