"""The sandbox against hostile programs: each gets the right status and leaves no trace."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asap.eval.grading import EvalSettings, evaluate_code, run_tests
from asap.eval.sandbox import (
    Limits,
    Sandbox,
    Unserializable,
    _zygote,
    detect_isolation,
    dumps_value,
    lease_uid,
    loads_value,
)
from asap.eval.sandbox_harness import WRITABLE_SCRATCH

REPO = Path(__file__).resolve().parents[1]

FAST = Limits(
    case_cpu_s=1.0,
    load_cpu_s=1.0,
    sample_cpu_s=3.0,
    wall_factor=2.0,
    wall_slack_s=1.0,
    memory_bytes=768 << 20,
    output_bytes=1 << 20,
)
SETTINGS = EvalSettings(limits=FAST, check_cpu_s=1.5, check_factor=0.0, retries=0)

CHECK_PROBLEM = {
    "task_id": "toy/add",
    "benchmark": "humaneval",
    "question": 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
    "entry_point": "add",
    "starter_code": None,
    "setup_code": "",
    "reference": "def add(a, b):\n    return a + b\n",
    "test_type": "check",
    "tests": {
        "check": "def check(candidate):\n"
        "    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n"
    },
}
STDIN_PROBLEM = {
    "task_id": "toy/double",
    "benchmark": "lcb_v1_v3",
    "question": "Print twice the number read from stdin.",
    "entry_point": None,
    "starter_code": None,
    "setup_code": "",
    "reference": None,
    "test_type": "stdin",
    "tests": {"cases": [{"input": "21\n", "output": "42\n"}, {"input": "-3\n", "output": "-6"}]},
}
FUNCTIONAL_PROBLEM = {
    "task_id": "toy/pair",
    "benchmark": "lcb_v4_v5",
    "question": "Return [a, b] sorted.",
    "entry_point": "pair",
    "starter_code": "class Solution:\n    def pair(self, a: int, b: int) -> list[int]:\n        ",
    "setup_code": "",
    "reference": None,
    "test_type": "functional",
    "tests": {"cases": [{"input": "3\n1", "output": "[1, 3]"}], "func_name": "pair"},
}
# The same tests written as a loop: not a plain list of asserts, so the check program runs here
# and calls the candidate in the sandbox one call at a time.
LOOP_CHECK_PROBLEM = dict(
    CHECK_PROBLEM,
    tests={
        "check": "def check(candidate):\n"
        "    for a, b, c in [(1, 2, 3), (-4, 4, 0)]:\n        assert candidate(a, b) == c\n"
    },
)
GOOD_ADD = "def add(a, b):\n    return a + b\n"
GOOD_DOUBLE = "print(2 * int(input()))\n"
# Another process leasing slot 20's uid and holding it until its stdin closes.
HOLD_SLOT_20 = (
    "import sys\nfrom asap.eval.sandbox import lease_uid\n"
    "print(lease_uid(62020), flush=True)\nsys.stdin.read()\n"
)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(FAST, slot=7)


def check_status(sandbox: Sandbox, code: str) -> list[str]:
    """The status of `code` on the toy check; both ways of running a check must agree."""
    batched = run_tests(sandbox, CHECK_PROBLEM, code, SETTINGS)
    called = run_tests(sandbox, LOOP_CHECK_PROBLEM, code, SETTINGS)
    assert batched == called, (batched, called)
    return batched


def sandbox_processes(sandbox: Sandbox) -> list[int]:
    """Live processes of the sandbox's uid anywhere on the machine (or our new children)."""
    if sandbox.uid is None:
        from asap.eval.sandbox import _children

        return sorted(_children())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            state = next(line for line in status.splitlines() if line.startswith("State:"))
            if int(uid_line.split()[1]) == sandbox.uid and "Z" not in state.split()[1]:
                found.append(int(entry))
    return found


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A world-writable folder with a world-writable file outside any sandbox temp dir: in the
    repository, or in /var/cache when the repository lies in a temp dir (which every run sees
    as a fresh tmpfs, so a victim there would prove nothing)."""
    scratch = [os.path.realpath(t) for t in WRITABLE_SCRATCH]
    candidates = [
        p for p in (REPO / ".cache", Path("/var/cache"))
        if not any(os.path.realpath(p).startswith(t + os.sep) for t in scratch)
        and os.access(p if p.exists() else p.parent, os.W_OK)
    ]  # fmt: skip
    if not candidates:
        pytest.fail("no writable folder outside the sandbox temp dirs for the victim file")
    parent = candidates[0]
    folder = parent / f"sandbox-victim-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    victim = folder / "victim.txt"
    victim.write_text("original")
    victim.chmod(0o666)
    yield folder
    shutil.rmtree(folder)


def test_isolation_is_namespaces_where_root() -> None:
    # CI and the project machines run as root: the strongest level must be in use there.
    if os.geteuid() != 0:
        pytest.skip("not root: the namespaces level needs root")
    assert detect_isolation() == "namespaces"


def test_good_solutions_pass(sandbox: Sandbox) -> None:
    assert check_status(sandbox, GOOD_ADD) == ["passed"]
    assert run_tests(sandbox, STDIN_PROBLEM, GOOD_DOUBLE, SETTINGS) == ["passed", "passed"]
    good_pair = "class Solution:\n    def pair(self, a, b):\n        return sorted((a, b))\n"
    assert run_tests(sandbox, FUNCTIONAL_PROBLEM, good_pair, SETTINGS) == ["passed"]


def test_wrong_solutions_fail(sandbox: Sandbox) -> None:
    assert check_status(sandbox, "def add(a, b):\n    return a - b\n") == ["wrong_answer"]
    assert run_tests(sandbox, STDIN_PROBLEM, "print(int(input()))", SETTINGS) == [
        "wrong_answer",
        "wrong_answer",
    ]
    assert check_status(sandbox, "def add(a, b):\n    return undefined\n") == ["runtime_error"]
    assert check_status(sandbox, "def add(a, b) return") == ["runtime_error"]


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(0)\n",
        "import os\nos._exit(0)\n",
        "import sys\ndef add(a, b):\n    sys.exit(0)\n",
        "import os\ndef add(a, b):\n    os._exit(0)\n",
        "import sys\ndef add(a, b):\n    raise SystemExit(0)\n",
    ],
    ids=["exit-before", "os_exit-before", "exit-inside", "os_exit-inside", "systemexit-inside"],
)
def test_exiting_early_is_not_a_pass(sandbox: Sandbox, code: str) -> None:
    assert check_status(sandbox, code) == ["runtime_error"]


def test_exit_zero_in_stdin_program_is_judged_by_output(sandbox: Sandbox) -> None:
    code = "import sys\nsys.exit(0)\nprint(2 * int(input()))\n"
    assert run_tests(sandbox, STDIN_PROBLEM, code, SETTINGS) == ["wrong_answer", "wrong_answer"]


ALWAYS_EQUAL = (
    "class Anything:\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n"
    "    __hash__ = object.__hash__\n"
)


def test_always_equal_object_is_a_wrong_answer(sandbox: Sandbox) -> None:
    assert check_status(sandbox, ALWAYS_EQUAL + "def add(a, b):\n    return Anything()\n") == [
        "wrong_answer"
    ]
    subclass = "class Int(int):\n    def __eq__(self, other):\n        return True\n"
    assert check_status(sandbox, subclass + "def add(a, b):\n    return Int(0)\n") == [
        "wrong_answer"
    ]
    functional = (
        ALWAYS_EQUAL + "class Solution:\n    def pair(self, a, b):\n        return Anything()\n"
    )
    assert run_tests(sandbox, FUNCTIONAL_PROBLEM, functional, SETTINGS) == ["wrong_answer"]


def test_files_outside_the_temp_dir_stay_untouched(sandbox: Sandbox, outside_dir: Path) -> None:
    victim = outside_dir / "victim.txt"
    # the victim is visible to a run (else the checks below would pass whatever the sandbox does)
    peek = f"assert open({str(victim)!r}).read() == 'original'\ndef add(a, b):\n    return a + b\n"
    assert check_status(sandbox, peek) == ["passed"]
    attack = (
        "import os\n"
        f"open({str(victim)!r}, 'w').write('changed')\n"
        "def add(a, b):\n    return a + b\n"
    )
    assert check_status(sandbox, attack) == ["runtime_error"]
    sneaky = (
        "import os, contextlib\n"
        "def add(a, b):\n"
        f"    for act in (lambda: os.remove({str(victim)!r}),\n"
        f"                lambda: open({str(outside_dir / 'new.txt')!r}, 'w').write('x'),\n"
        f"                lambda: os.rename({str(victim)!r}, {str(outside_dir / 'moved')!r})):\n"
        "        with contextlib.suppress(OSError):\n            act()\n"
        "    open('scratch.txt', 'w').write('fine')  # its own temp dir is writable\n"
        "    return a + b\n"
    )
    assert check_status(sandbox, sneaky) == ["passed"]
    assert victim.read_text() == "original"
    assert sorted(p.name for p in outside_dir.iterdir()) == ["victim.txt"]


def test_environment_under_a_scratch_dir_stays_importable_and_read_only() -> None:
    # A clone (and so its .venv) under /tmp: the runs' fresh tmpfs on /tmp must not hide it.
    site = Path(tempfile.mkdtemp(prefix="asap-env-", dir="/tmp")) / "site-packages"
    try:
        site.mkdir()
        module = site / "asap_probe_module.py"
        module.write_text("OFFSET = 0\n")
        for path in (site.parent, site, module):
            path.chmod(0o755)
        sandbox = Sandbox(FAST, slot=8)
        sandbox.sys_path.append(str(site))
        code = (
            "import contextlib, asap_probe_module\n"
            "with contextlib.suppress(OSError):\n"
            "    open(asap_probe_module.__file__, 'a').write('OFFSET = 1\\n')\n"
            "def add(a, b):\n    return a + b + asap_probe_module.OFFSET\n"
        )
        assert run_tests(sandbox, CHECK_PROBLEM, code, SETTINGS) == ["passed"]
        assert module.read_text() == "OFFSET = 0\n"
    finally:
        shutil.rmtree(site.parent)


@pytest.mark.parametrize("isolation", ["auto", "process"])  # process: the seccomp filter alone
def test_no_network_not_even_loopback(isolation: str) -> None:
    if isolation == "process" and os.uname().machine != "x86_64":
        pytest.skip("the seccomp filter is x86_64 only")
    sandbox = Sandbox(FAST, isolation=isolation, slot=7)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        code = (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
            "def add(a, b):\n    return a + b\n"
        )
        assert check_status(sandbox, code) == ["runtime_error"]
        stdin_code = (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "print(2 * int(input()))\n"
        )
        statuses = run_tests(sandbox, STDIN_PROBLEM, stdin_code, SETTINGS)
        assert statuses == ["runtime_error", "runtime_error"]
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


LINGERING = {
    "forked-child": (
        "import os, time\n"
        "def add(a, b):\n"
        "    if os.fork() == 0:\n        time.sleep(60)\n"
        "    return a + b\n"
    ),
    "daemon": (
        "import os, time\n"
        "def add(a, b):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n            while True:\n                time.sleep(0.01)\n"
        "        os._exit(0)\n"
        "    return a + b\n"
    ),
}


@pytest.mark.parametrize("isolation", ["auto", "process"])
@pytest.mark.parametrize("name", sorted(LINGERING))
def test_no_process_survives(name: str, isolation: str) -> None:
    sandbox = Sandbox(FAST, isolation=isolation, slot=8)
    assert sandbox_processes(sandbox) == []
    assert check_status(sandbox, LINGERING[name]) == ["passed"]
    assert sandbox_processes(sandbox) == []


@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_runs_are_repeatable(isolation: str) -> None:
    """Every run starts from the same random state (fork reseeds `random` from the OS)."""
    sandbox = Sandbox(FAST, isolation=isolation, slot=10)
    program = "import random\ndef draw():\n    return [random.random() for _ in range(3)]\n"
    calls = [(dumps_value([]), dumps_value({}), 1.0)]
    values = {sandbox.run_calls(program, "draw", calls).cases[0].value for _ in range(3)}
    assert len(values) == 1 and None not in values


def test_runs_cannot_stop_the_zygote(sandbox: Sandbox) -> None:
    """Signals at the namespace's init or at every process it may reach do not end the
    zygote: the next run is served by the same one."""
    zygote = _zygote(sandbox.isolation, sandbox.uid, sandbox.sys_path)
    hostile = (
        "import os, signal\n"
        "def add(a, b):\n"
        "    for target, sig in ((1, signal.SIGINT), (1, signal.SIGKILL), (-1, signal.SIGKILL)):\n"
        "        try:\n            os.kill(target, sig)\n"
        "        except OSError:\n            pass\n"
        "    return a + b\n"
    )
    assert check_status(sandbox, hostile) in (["passed"], ["runtime_error"])
    assert check_status(sandbox, GOOD_ADD) == ["passed"]
    assert _zygote(sandbox.isolation, sandbox.uid, sandbox.sys_path) is zygote
    assert zygote.alive()


def test_concurrent_processes_never_share_a_sandbox_uid(tmp_path: Path) -> None:
    """Two evaluations (or test runs) at once on one machine: each gets uids of its own, so a
    fork bomb in one cannot exhaust the other's RLIMIT_NPROC."""
    if os.geteuid() != 0:
        pytest.skip("sandbox uids are leased only when running as root")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SLOT_20],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        held = int(holder.stdout.readline())  # 62020, unless a third process holds that one
        ours = Sandbox(FAST, slot=20)
        assert held >= 62020 and ours.uid > 62020 and ours.uid != held
        assert Sandbox(FAST, slot=20).uid == ours.uid  # this process asking again: the same uid
        assert check_status(ours, GOOD_ADD) == ["passed"]
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert lease_uid(held) == held  # the holder has exited: the kernel released its lease


def test_fork_bomb_is_contained() -> None:
    sandbox = Sandbox(FAST, slot=9)
    bomb = "import os\nwhile True:\n    os.fork()\n"
    assert check_status(sandbox, bomb)[0] in ("runtime_error", "timeout")
    stdin_bomb = "import os\nwhile True:\n    os.fork()\n"
    assert set(run_tests(sandbox, STDIN_PROBLEM, stdin_bomb, SETTINGS)) <= {
        "runtime_error",
        "timeout",
    }
    assert sandbox_processes(sandbox) == []  # every forked process ended with its run


def test_memory_hog_is_memory_exceeded(sandbox: Sandbox) -> None:
    hog = "def add(a, b):\n    return len(bytearray(2 << 30))\n"
    assert check_status(sandbox, hog) == ["memory_exceeded"]
    stdin_hog = "x = [0] * (1 << 31)\nprint(2 * int(input()))\n"
    statuses = run_tests(sandbox, STDIN_PROBLEM, stdin_hog, SETTINGS)
    assert statuses == ["memory_exceeded", "memory_exceeded"]


TIGHT = Limits(case_cpu_s=0.5, load_cpu_s=0.5, sample_cpu_s=1.0, wall_factor=2.0, wall_slack_s=0.5)


def test_infinite_loops_time_out() -> None:
    sandbox = Sandbox(TIGHT, slot=7)

    def check_status(sandbox: Sandbox, code: str) -> list[str]:
        settings = EvalSettings(limits=TIGHT, check_cpu_s=0.5, check_factor=0.0, retries=0)
        batched = run_tests(sandbox, CHECK_PROBLEM, code, settings)
        assert run_tests(sandbox, LOOP_CHECK_PROBLEM, code, settings) == batched
        return batched

    assert check_status(sandbox, "def add(a, b):\n    while True:\n        pass\n") == ["timeout"]
    at_import = "while True:\n    pass\n"
    assert check_status(sandbox, at_import) == ["timeout"]
    stubborn = (  # swallows the CPU alarm: RLIMIT_CPU ends it
        "def add(a, b):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n"
    )
    assert check_status(sandbox, stubborn) == ["timeout"]
    sleeper = "import time\ndef add(a, b):\n    time.sleep(60)\n"  # no CPU used: wall deadline
    assert check_status(sandbox, sleeper) == ["timeout"]
    statuses = run_tests(sandbox, STDIN_PROBLEM, "while True:\n    pass\n", SETTINGS)
    assert statuses == ["timeout", "timeout"]


def test_huge_output_is_cut_off(sandbox: Sandbox) -> None:
    flood = "while True:\n    print('x' * 65536)\n"
    assert run_tests(sandbox, STDIN_PROBLEM, flood, SETTINGS) == ["runtime_error"] * 2
    in_call = "def add(a, b):\n    print('y' * (4 << 20))\n    return a + b\n"
    assert check_status(sandbox, in_call) == ["runtime_error"]
    big_file = "def add(a, b):\n    open('big', 'wb').write(b'z' * (4 << 20))\n    return a + b\n"
    assert check_status(sandbox, big_file) == ["runtime_error"]


def test_retry_reruns_timeouts_only(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    import asap.eval.grading

    runs: list[str] = []
    real_run_tests = asap.eval.grading.run_tests

    def counted(sandbox: Sandbox, problem: dict, code: str, *args: Any) -> list[str]:
        runs.append(code)
        return real_run_tests(sandbox, problem, code, *args)

    monkeypatch.setattr(asap.eval.grading, "run_tests", counted)
    settings = EvalSettings(limits=FAST, check_cpu_s=1.0, check_factor=0.0, retries=1)
    assert evaluate_code(sandbox, CHECK_PROBLEM, GOOD_ADD, settings) == ["passed"]
    assert runs == [GOOD_ADD]  # passed: not run again
    looping = "def add(a, b):\n    while True:\n        pass\n"
    assert evaluate_code(sandbox, CHECK_PROBLEM, looping, settings) == ["timeout"]
    assert runs == [GOOD_ADD, looping, looping]  # timed out: run once more, as retries=1 says


def test_value_codec_round_trips_exact_types() -> None:
    value = [
        1,
        2.5,
        "s",
        None,
        True,
        (1, (2,)),
        {3: "x", (1, 2): [4]},
        {5},
        frozenset({6}),
        10**400,
    ]
    decoded = loads_value(dumps_value(value))
    assert decoded == value
    assert type(decoded[5]) is tuple and type(decoded[7]) is set
    assert loads_value(dumps_value(float("nan"))) != loads_value(dumps_value(float("nan")))


class ListNode:
    def __init__(self, val=0, next=None):
        self.val, self.next = val, next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val, self.left, self.right = val, left, right


def test_linked_lists_and_trees_travel_in_leetcode_form() -> None:
    from asap.eval.sandbox_harness import build_list_node, build_tree_node

    def factory(kind: str, values: list) -> object:
        if kind == "list_node":
            return build_list_node(ListNode, values)
        return build_tree_node(TreeNode, values)

    tree = build_tree_node(TreeNode, [5, 3, 6, None, 4, None, 7])
    assert dumps_value(tree) == '{"__tree_node__": [5, 3, 6, null, 4, null, 7]}'
    copy = loads_value(dumps_value([tree, build_list_node(ListNode, [1, 2])]), factory)
    assert copy[0].left.right.val == 4 and copy[0].right.right.val == 7
    assert copy[1].next.val == 2 and copy[1].next.next is None
    cyclic = ListNode(1)
    cyclic.next = cyclic
    with pytest.raises(Unserializable):
        dumps_value(cyclic)


def test_isolation_details_reported(sandbox: Sandbox) -> None:
    info = sandbox.probe(sandbox.isolation)
    if sandbox.isolation == "namespaces":
        assert info["readonly_failed"] == []
        assert info["uid"] == sandbox.uid
    if os.uname().machine != "x86_64":
        pytest.skip("the seccomp filter is x86_64 only")
    assert info["seccomp"] is True


def _socket_dirs() -> Iterator[Path]:
    """World-traversable folders a run can see: in the checkout, and under /run when writable."""
    made = []
    for parent in (REPO / ".cache", Path("/run")):
        try:
            parent.mkdir(exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="asap-sock-", dir=parent))
        except OSError:
            continue
        folder.chmod(0o755)
        made.append(folder)
    return iter(made)


@pytest.fixture
def host_sockets() -> Iterator[dict[str, list]]:
    """Listening stream and bound datagram Unix sockets of the host, connectable by anyone:
    in the checkout, under /run (as root), and in the abstract namespace."""
    folders = list(_socket_dirs())
    found: dict[str, list] = {"stream": [], "dgram": [], "paths": [], "abstract": []}
    for folder in folders:
        for kind, type_ in (("stream", socket.SOCK_STREAM), ("dgram", socket.SOCK_DGRAM)):
            path = folder / f"{kind}.sock"
            sock = socket.socket(socket.AF_UNIX, type_)
            sock.bind(str(path))
            path.chmod(0o777)
            if kind == "stream":
                sock.listen(8)
            sock.setblocking(False)
            found[kind].append(sock)
            found["paths"].append((kind, str(path)))
    for kind, type_ in (("stream", socket.SOCK_STREAM), ("dgram", socket.SOCK_DGRAM)):
        name = f"\0asap-test-{kind}-{uuid.uuid4().hex[:8]}"
        sock = socket.socket(socket.AF_UNIX, type_)
        sock.bind(name)
        if kind == "stream":
            sock.listen(8)
        sock.setblocking(False)
        found[kind].append(sock)
        found["abstract"].append((kind, name))
    try:
        yield found
    finally:
        for sock in found["stream"] + found["dgram"]:
            sock.close()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


REACH_UNIX = (
    "import socket\n"
    "TARGETS = {targets!r}\n"
    "def reach():\n"
    "    reached = []\n"
    "    for kind, address in TARGETS:\n"
    "        attempts = []\n"
    "        if kind == 'stream':\n"
    "            attempts.append(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)"
    ".connect(address))\n"
    "        else:\n"
    "            attempts.append(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)"
    ".sendto(b'leak', address))\n"
    "            attempts.append(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0]"
    ".sendto(b'leak', address))\n"
    "            attempts.append(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0]"
    ".connect(address))\n"
    "        for attempt in attempts:\n"
    "            try:\n"
    "                attempt()\n"
    "                reached.append(address)\n"
    "            except OSError:\n"
    "                pass\n"
    "    return reached\n"
    "def add(a, b):\n"
    "    left, right = socket.socketpair()  # stays allowed (asyncio, multiprocessing use it)\n"
    "    left.sendall(b'ok')\n"
    "    assert right.recv(2) == b'ok'\n"
    "    return a + b + len(reach())\n"
)


def _nothing_arrived(host_sockets: dict[str, list]) -> None:
    for sock in host_sockets["stream"]:
        with pytest.raises(BlockingIOError):
            sock.accept()
    for sock in host_sockets["dgram"]:
        with pytest.raises(BlockingIOError):
            sock.recv(16)


@pytest.mark.parametrize("isolation", ["auto", "process"])  # process: the seccomp filter alone
def test_no_unix_socket_of_the_host_is_reachable(
    isolation: str, host_sockets: dict[str, list]
) -> None:
    if isolation == "process" and os.uname().machine != "x86_64":
        pytest.skip("the seccomp filter is x86_64 only")
    sandbox = Sandbox(FAST, isolation=isolation, slot=7)
    targets = host_sockets["paths"] + host_sockets["abstract"]
    assert len(host_sockets["paths"]) >= 2  # at least the checkout's two sockets
    code = REACH_UNIX.format(targets=targets)
    assert check_status(sandbox, code) == ["passed"]  # reached nothing, socketpair worked
    _nothing_arrived(host_sockets)
    stdin_code = code + "print(2 * int(input()) + len(reach()))\n"
    assert run_tests(sandbox, STDIN_PROBLEM, stdin_code, SETTINGS) == ["passed", "passed"]
    _nothing_arrived(host_sockets)


def test_builtin_subclasses_travel_as_the_value_they_hold() -> None:
    import collections

    Point = collections.namedtuple("Point", "x y")

    class Lying(list):  # overrides cannot change what is sent
        def __iter__(self):
            return iter([42])

        def __eq__(self, other):
            return True

    values = [
        collections.Counter("aab"),
        collections.defaultdict(int, a=1),
        collections.OrderedDict(b=2, a=1),
        Point(1, 2),
        Lying([1, 2]),
    ]
    decoded = loads_value(dumps_value(values))
    assert decoded == [{"a": 2, "b": 1}, {"a": 1}, {"b": 2, "a": 1}, (1, 2), [1, 2]]
    assert [type(v) for v in decoded] == [dict, dict, dict, tuple, list]
