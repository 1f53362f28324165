"""Run untrusted Python in its own isolated, resource-limited process tree.

Each worker process starts one *zygote* (``python -S`` running `sandbox_harness`, stdlib
only, no site-packages) that prepares what all runs share and forks one fresh process per run,
one run at a time; the worker gets a pidfd of each run, through which it can kill it. A run
finishes the isolation while privileged, drops privileges, sets resource limits and only then
runs the program. When a run's process ends, the zygote, init of the runs' pid namespace,
kills and reaps every process left in there, then reports how the run ended. The harness reports
raw observations (encoded return values, stdout, how each case ended); the caller here decides
verdicts by comparing them with expected values the sandbox never sees.

What holds, by isolation level (`detect_isolation` picks the strongest that works):

``namespaces`` (running as root, e.g. CI and this project's machines; kernel namespaces set up
with ``unshare(2)`` from the harness itself, no extra package):
  * network and host sockets: a network namespace whose only interface, loopback, is down
    (connect fails, 127.0.0.1 included; abstract Unix socket names of the host are out of
    reach), plus a seccomp filter with no socket() and no connect() at all (no IP, no vsock
    to the hypervisor, no packet or netlink sockets, and no Unix-domain socket of the host,
    though its socket files are visible under the read-only mounts), socketpair() for
    connected stream pairs only, and no io_uring;
  * kernel facilities no namespace isolates: the same filter denies the calls that reach
    them (table below); each run also starts in a new, empty session keyring, and the user
    keyrings of its uid are emptied, so no key of the evaluating process or of an earlier
    run or evaluation is in reach even without the filter;
  * files: in a private mount namespace every mount is remounted read-only (per mount point,
    never the filesystem itself), /tmp, /var/tmp and /dev/shm get a fresh size-capped tmpfs
    per run, the working directory is a new directory on it, and private ancestors of the
    interpreter (e.g. /root) are covered by an empty tmpfs with only the interpreter bound
    back. The program runs as an unprivileged per-worker uid (62000 + slot by default, or the
    next one that no other process on the machine holds: `lease_uid`) with no capabilities
    (bounding set emptied) and ``no_new_privs``: it can neither write outside its tmpfs nor
    undo the mounts, and its files vanish with the run;
  * processes: everything it starts lives in the runs' pid namespace, where the zygote kills
    it when the run's process ends, before it reports the end (runs never overlap, and the
    zygote, the namespace's init, cannot be traced or signalled by them); on a deadline the
    worker kills the run, and, as a child subreaper, every orphan that reaches it;
  * limits: RLIMIT_AS (memory), RLIMIT_CPU plus a CPU-time alarm per case, RLIMIT_FSIZE
    (output and file size), RLIMIT_NPROC (per uid, so per worker), RLIMIT_NOFILE, the tmpfs
    size, and a wall-clock deadline enforced from outside; SysV IPC is private per run.
``userns`` (not root, unprivileged user namespaces allowed): the same namespaces inside a new
user namespace; the program keeps the caller's uid but loses every capability (bounding set,
locked securebits, capset) so the read-only remounts hold; RLIMIT_NPROC counts per user
namespace; a new session keyring per run, the user keyrings are those of the user namespace.
``process`` (no namespaces available): new session, the same resource limits, the seccomp
filter (so still no network, no host socket and no keyring on x86_64), a new session
keyring, a fresh temporary directory as working directory, the unprivileged uid when running
as root (which then keeps CAP_DAC_READ_SEARCH so that an interpreter under a private home
stays importable: it can read every file), the run's process group killed when it ends, and
the subreaper sweep for processes that left it. What does NOT hold here: files writable by
that uid (e.g. new files in /tmp, or, when not root, everything the calling user can write)
can be changed; without x86_64 seccomp the network is reachable; RLIMIT_NPROC counts the
user's other processes too (the harness adds their number). `detect_isolation` logs a
warning when it falls back to it.

The seccomp filter (x86_64; ``sandbox_harness.DENIED_CALLS``), call by call through the deny
list of Docker's default profile and the calls next to them. EACCES: denied, answered EACCES
(as a missing permission, so programs fail cleanly); a run has no capabilities, so the kernel
refuses many of these anyway and the filter is a second wall. Set-up (unshare, mount) comes
before the filter, in the run's own process.

==============================================  ======  =====================================
call                                            denied  why
==============================================  ======  =====================================
socket, connect                                 EACCES  network and host Unix sockets, even
                                                        without a network namespace
socketpair, other than SOCK_STREAM              EACCES  a datagram pair can send to a named
                                                        address; stream pairs stay (asyncio,
                                                        multiprocessing)
io_uring_setup                                  EACCES  its operations bypass the filter
add_key, request_key, keyctl                    EACCES  keyrings are not namespaced: the
                                                        evaluating process's session keyring,
                                                        the uid's user keyring that outlives
                                                        runs and evaluations
bpf                                             EACCES  maps and programs are kernel-wide
perf_event_open                                 EACCES  counters of CPUs shared with the host
                                                        and other processes (side channels)
userfaultfd                                     EACCES  no use to a run; an exploit staple
kexec_load, kexec_file_load, reboot             EACCES  the host's kernel
init_module, finit_module, delete_module        EACCES  the host's kernel modules
create_module, get_kernel_syms, query_module,   EACCES  obsolete (no longer in the kernel)
nfsservctl, _sysctl, uselib
sysfs, ustat                                    EACCES  obsolete; describe host file systems
acct                                            EACCES  host-wide process accounting
quotactl, quotactl_fd                           EACCES  host file system quotas
swapon, swapoff                                 EACCES  host swap
settimeofday, clock_settime, clock_adjtime,     EACCES  the host's clock
adjtimex
ioperm, iopl                                    EACCES  the host's I/O ports
syslog, lookup_dcookie                          EACCES  the host's kernel log and profiling
mount, umount2, pivot_root, open_tree,          EACCES  a run keeps the read-only mounts it
move_mount, fsopen, fsconfig, fsmount, fspick,          was given
mount_setattr
name_to_handle_at, open_by_handle_at            EACCES  open files past the mount covers
                                                        (``process`` as root keeps
                                                        CAP_DAC_READ_SEARCH)
unshare, setns, clone with a CLONE_NEW* flag    EACCES  a run keeps its namespaces; a new user
                                                        namespace hands it capabilities and
                                                        kernel attack surface
clone3                                          ENOSYS  flags in memory the filter cannot
                                                        read; libc falls back to clone
ptrace, process_vm_readv, process_vm_writev,    EACCES  other processes' memory, descriptors,
pidfd_getfd, kcmp, move_pages, migrate_pages            kernel objects: at ``process`` level
                                                        the evaluating process may share the
                                                        uid; no run needs them
stime, umount, vm86, vm86old (i386 only)        EACCES  every ABI but x86_64 is denied (i386,
                                                        x32)
clone without CLONE_NEW*, fork, vfork           no      processes, threads, multiprocessing
get_mempolicy, set_mempolicy, mbind             no      the run's own memory; NUMA-aware
                                                        libraries query them
personality                                     no      the run's own processes only
==============================================  ======  =====================================

Faking a pass is impossible at every level because the verdict never comes from the sandbox's
exit status or from a flag it sets: return values cross the boundary only as plain builtin
values (`sandbox_harness.dumps_value`: a subclass of a builtin type, such as Counter or a
namedtuple, as the value it holds, read through the builtin type's own methods; any other
object, e.g. one whose ``__eq__`` is always true, is reported as unserializable), stdout is
compared as text, and a run that stops early (``sys.exit(0)``, ``os._exit(0)``, a crash)
simply lacks the results of its remaining cases.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import logging
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from asap.eval.sandbox_harness import DecodeError, Unserializable, dumps_value, loads_value
from asap.repro.io import DataError

__all__ = [
    "STATUSES",
    "CaseOutcome",
    "DecodeError",
    "Limits",
    "RunOutcome",
    "Sandbox",
    "SandboxError",
    "Unserializable",
    "close_zygotes",
    "detect_isolation",
    "dumps_value",
    "loads_value",
]

log = logging.getLogger(__name__)

STATUSES = ("passed", "wrong_answer", "timeout", "runtime_error", "memory_exceeded")
ISOLATIONS = ("namespaces", "userns", "process")
HARNESS = Path(__file__).with_name("sandbox_harness.py")
PR_SET_CHILD_SUBREAPER = 36
# Where sandbox uids are leased, machine-wide (/run/lock is shared even by processes that see
# a private /tmp); the first of these that exists.
UID_LEASE_DIRS = (Path("/run/lock"), Path("/var/lock"), Path(tempfile.gettempdir()))
UID_LEASE_SPAN = 4096  # uids tried from the preferred one on


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox run (CPU seconds are process CPU time, not wall time)."""

    case_cpu_s: float = 4.0  # default CPU time of one test case
    load_cpu_s: float = 4.0  # CPU time of the program's top level (call modes)
    sample_cpu_s: float = 20.0  # CPU time of the whole run (all cases of one sample)
    wall_factor: float = 3.0  # wall deadline = cpu limit * wall_factor + wall_slack_s
    wall_slack_s: float = 2.0
    memory_bytes: int = 4 << 30  # RLIMIT_AS
    output_bytes: int = 8 << 20  # stdout cap and RLIMIT_FSIZE
    tmpfs_bytes: int = 64 << 20  # private /tmp (namespace levels)
    nproc: int = 64  # processes and threads of the sandbox uid
    nofile: int = 256

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Limits:
        params = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"unknown sandbox limits {unknown}; known: {sorted(known)}")
        return cls(**params)

    def wall_s(self, cpu_s: float) -> float:
        return cpu_s * self.wall_factor + self.wall_slack_s


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program under test): no verdict can be given."""


@dataclass
class CaseOutcome:
    """What one case did. kind: ok | error | timeout | memory | output_limit | unserializable."""

    kind: str
    value: str | None = None  # encoded return value (call modes)
    stdout: str | None = None  # stdin mode
    error: str = ""
    cpu_s: float = 0.0


@dataclass
class RunOutcome:
    loaded: bool  # the program compiled and its top level finished
    load_kind: str = "ok"
    load_error: str = ""
    cases: list[CaseOutcome] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # isolation details from the harness


# ----------------------------------------------------------------------------------------------
# Process plumbing


def _enable_subreaper() -> None:
    """Orphans of sandboxed processes are reparented to this process, so it can end them (and
    the runs a zygote forks become its children)."""
    if getattr(_enable_subreaper, "pid", None) == os.getpid():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SandboxError(f"cannot become a child subreaper: {os.strerror(ctypes.get_errno())}")
    _enable_subreaper.pid = os.getpid()  # type: ignore[attr-defined]


def _children() -> set[int]:
    pids: set[int] = set()
    task_dir = Path("/proc/self/task")
    for task in task_dir.iterdir():
        with suppress(OSError):
            pids.update(int(pid) for pid in (task / "children").read_text().split())
    return pids


def _process_uid(pid: int) -> int | None:
    with suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def _pid_namespace(pid: int | str) -> str | None:
    with suppress(OSError):
        return os.readlink(f"/proc/{pid}/ns/pid")
    return None


def _kill_strays(before: set[int], sandbox_uid: int | None) -> int:
    """Kill and reap children that appeared during a run and belong to the sandbox.

    They are sandbox processes that escaped their session and were reparented here: a pid
    namespace other than ours, the sandbox uid, or (same uid, no namespaces) any new child.
    """
    own_ns = _pid_namespace("self")
    killed = 0
    for _ in range(200):
        strays = []
        for pid in _children() - before:
            uid = _process_uid(pid)
            if (
                uid is None
                or _pid_namespace(pid) != own_ns
                or uid == sandbox_uid
                or sandbox_uid is None
            ):
                strays.append(pid)
        if not strays:
            return killed
        for pid in strays:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
        killed += len(strays)
    raise SandboxError("sandboxed processes keep reappearing; giving up the sweep")


PYTHON = [sys.executable, "-S", "-s", "-P", "-B", "-X", "int_max_str_digits=0"]
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
BOOT = (
    "import sys, importlib.util as u; s = u.spec_from_file_location('sandbox_harness', "
    "sys.argv[1]); m = u.module_from_spec(s); sys.modules['sandbox_harness'] = m; "
    "s.loader.exec_module(m); m.zygote(sys.argv[2], int(sys.argv[3]))"
)


class _RunProcess:
    """A run forked by a zygote: its pipes, and a pidfd to kill it with (the zygote reaps it,
    so a pid could be reused; the pidfd cannot)."""

    def __init__(self, pidfd: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pidfd = pidfd
        self.stdin = os.fdopen(stdin, "wb", buffering=0)
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.stderr = os.fdopen(stderr, "rb", buffering=0)

    def kill(self) -> None:
        with suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def close(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            with suppress(OSError):
                stream.close()
        with suppress(OSError):
            os.close(self.pidfd)


class _Zygote:
    """A harness process that prepared the shared namespaces and forks runs on request, so a
    run costs a fork instead of an interpreter start-up. One per (process, isolation, uid)."""

    def __init__(self, config: dict[str, Any]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [*PYTHON, "-c", BOOT, str(HARNESS), json.dumps(config), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=ENV,
            cwd="/",
        )
        theirs.close()
        self.sock = ours
        reply, _ = self._reply()
        if "ready" not in reply:
            self.close()
            raise SandboxError(f"sandbox ({config['isolation']}) unavailable: {reply.get('error')}")
        self.info: dict[str, Any] = reply["ready"]

    def _reply(self) -> tuple[dict[str, Any], list[int]]:
        """The zygote's next message (one datagram) and the descriptors it carries."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 1)
        except OSError as err:
            return {"error": str(err)}, []
        try:
            reply = json.loads(data) if data else {"error": "the zygote exited"}
        except ValueError:
            reply = {"error": f"garbled reply {data[:100]!r}"}
        return reply, fds

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self) -> _RunProcess:
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        try:
            socket.send_fds(self.sock, [b"run"], [stdin_r, stdout_w, stderr_w])
            reply, fds = self._reply()
        except OSError as err:
            reply, fds = {"error": str(err)}, []
        finally:
            for fd in (stdin_r, stdout_w, stderr_w):
                os.close(fd)
        if not reply.get("started") or len(fds) != 1:
            for fd in (stdin_w, stdout_r, stderr_r, *fds):
                os.close(fd)
            raise SandboxError(f"the zygote could not start a run: {reply.get('error')}")
        return _RunProcess(fds[0], stdin_w, stdout_r, stderr_r)

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        with suppress(OSError):
            self.proc.kill()
        self.proc.wait()


_ZYGOTES: dict[tuple[Any, ...], _Zygote] = {}


def _drop_zygote(isolation: str, uid: int | None, sys_path: list[str]) -> None:
    zygote = _ZYGOTES.pop((os.getpid(), isolation, uid, tuple(sys_path)), None)
    if zygote is not None:
        zygote.close()


_LEASES: dict[int, tuple[int, int]] = {}  # uid -> (pid holding it, locked file descriptor)


def lease_uid(preferred: int, span: int = UID_LEASE_SPAN) -> int:
    """The first uid from `preferred` on that no other process on this machine runs sandboxes
    as, held by this process until it exits (an exclusive `flock` on a file per uid, released
    by the kernel when the process ends, however it ends).

    Without it, two evaluations or test runs at once would share a uid, and with it
    RLIMIT_NPROC (a fork bomb in one would fail the forks of the other) and the processes a
    sweep by uid finds. A process asking again for a uid it holds gets it back; a forked child
    does not inherit its parent's uids, it leases its own.
    """
    folder = next(d for d in UID_LEASE_DIRS if d.is_dir()) / "asap-sandbox-uids"
    folder.mkdir(mode=0o755, exist_ok=True)
    for uid in range(preferred, preferred + span):
        held = _LEASES.get(uid)
        if held is not None and held[0] == os.getpid():
            return uid
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _LEASES[uid] = (os.getpid(), fd)
        return uid
    raise SandboxError(f"no free sandbox uid in {preferred}..{preferred + span - 1} ({folder})")


@atexit.register
def close_zygotes() -> None:
    """Stop this process's zygotes (at exit; pool workers, which skip atexit, call it too)."""
    for key, zygote in list(_ZYGOTES.items()):
        if key[0] == os.getpid():
            zygote.close()
    _ZYGOTES.clear()


def _zygote(isolation: str, uid: int | None, sys_path: list[str]) -> _Zygote:
    key = (os.getpid(), isolation, uid, tuple(sys_path))
    zygote = _ZYGOTES.get(key)
    if zygote is None or not zygote.alive():
        _enable_subreaper()
        config = {
            "isolation": isolation,
            "uid": uid,
            "sys_path": sys_path,
            "parent_mount_ns": os.stat("/proc/self/ns/mnt").st_ino,
        }
        zygote = _ZYGOTES[key] = _Zygote(config)
    return zygote


class _Deadline(Exception):
    pass


class _Channel:
    """Line-framed JSON over the harness's stdin/stdout, with deadlines and a size cap."""

    def __init__(self, proc: _RunProcess, max_frame: int) -> None:
        self.proc = proc
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.scanned = 0

    def send(self, obj: Any) -> None:
        data = memoryview((json.dumps(obj, ensure_ascii=False) + "\n").encode())
        fd = self.proc.stdin.fileno()  # type: ignore[union-attr]
        while data:
            data = data[os.write(fd, data) :]

    def recv(self, deadline: float) -> dict[str, Any] | None:
        """Next frame; None at end of stream; _Deadline when `deadline` passes first."""
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            newline = self.buffer.find(b"\n", self.scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                self.scanned = 0
                try:
                    frame = json.loads(line)
                except ValueError:
                    return {"garbled": line[:200].decode("utf-8", "replace")}
                return frame if isinstance(frame, dict) else {"garbled": repr(frame)[:200]}
            self.scanned = len(self.buffer)
            if len(self.buffer) > self.max_frame:
                return {"garbled": "frame larger than the output limit"}
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _Deadline
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk


def _detect_uncached(probe: Sandbox) -> str:
    order = ["namespaces", "userns"] if os.geteuid() == 0 else ["userns"]
    for isolation in order:
        try:
            info = probe.probe(isolation)
        except SandboxError as err:
            log.info("sandbox isolation %s unavailable: %s", isolation, err)
            continue
        if isolation == "namespaces" or not info.get("readonly_failed"):
            return isolation
        _drop_zygote(isolation, probe.uid, probe.sys_path)
    log.warning(
        "no namespaces available: sandboxed code runs with resource limits only and can reach "
        "the network and write files this user can write (see asap.eval.sandbox)"
    )
    return "process"


_DETECTED: dict[int, str] = {}


def detect_isolation(sandbox: Sandbox | None = None) -> str:
    """The strongest isolation level that works on this machine (probed once per process,
    with `sandbox`'s uid so that the zygote the probe starts is the one its runs use)."""
    if os.geteuid() not in _DETECTED:
        _DETECTED[os.geteuid()] = _detect_uncached(sandbox or Sandbox(isolation="process"))
    return _DETECTED[os.geteuid()]


# ----------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    """Starts one fresh sandboxed process per run. `slot` picks the unprivileged uid (the first
    free one from `uid_base + slot`, see `lease_uid`), so that concurrent workers, and other
    processes' sandboxes, do not share RLIMIT_NPROC or signal each other's processes."""

    def __init__(
        self,
        limits: Limits | None = None,
        isolation: str = "auto",
        slot: int = 0,
        uid_base: int = 62000,
    ) -> None:
        if isolation != "auto" and isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be auto or one of {ISOLATIONS}, got {isolation!r}")
        self.limits = limits or Limits()
        self._isolation = isolation
        self.uid = lease_uid(uid_base + slot) if os.geteuid() == 0 else None
        self.sys_path = [p for p in sys.path if p.endswith("site-packages")]

    @property
    def isolation(self) -> str:
        if self._isolation == "auto":
            self._isolation = detect_isolation(self)
        return self._isolation

    # -- public runs ---------------------------------------------------------------------------

    def probe(self, isolation: str) -> dict[str, Any]:
        """Start a harness with `isolation` that runs nothing; its isolation details."""
        with self._session({"mode": "probe"}, isolation, self.limits.wall_s(5.0)) as session:
            return session.info

    def run_calls(
        self,
        program: str,
        entry_point: str,
        calls: Sequence[tuple[str, str, float]],
        budget_cpu_s: float | None = None,
        stop_on_timeout: bool = True,
    ) -> RunOutcome:
        """Run `program`, then call `entry_point` once per (args, kwargs, cpu_s); args and
        kwargs are `dumps_value` texts of a list and a dict. All of it shares `budget_cpu_s`
        (default: `limits.sample_cpu_s`, or less when the cases need less). After a timeout
        the remaining calls are not made and count as timeouts (`stop_on_timeout`)."""
        limits = self.limits
        if budget_cpu_s is None:
            budget_cpu_s = min(limits.sample_cpu_s, limits.load_cpu_s + sum(c[2] for c in calls))
        job = {
            "mode": "calls",
            "program": program,
            "entry_point": entry_point,
            "calls": [{"args": a, "kwargs": k, "cpu_s": c} for a, k, c in calls],
            "budget_cpu_s": budget_cpu_s,
            "stop_on_timeout": stop_on_timeout,
        }
        with self._session(job, self.isolation, limits.wall_s(budget_cpu_s)) as session:
            outcome = session.load()
            if outcome.loaded:
                outcome.cases = session.collect(len(calls))
            return outcome

    def run_stdin(
        self, program: str, cases: Sequence[tuple[str, float]], stop_on_timeout: bool = True
    ) -> RunOutcome:
        """Run `program` as __main__ once per (stdin text, cpu_s), each in a fresh process."""
        limits = self.limits
        wall = sum(limits.wall_s(cpu) for _, cpu in cases) + limits.wall_slack_s
        job = {
            "mode": "stdin",
            "program": program,
            "cases": [{"input": text, "cpu_s": cpu} for text, cpu in cases],
            "stop_on_timeout": stop_on_timeout,
        }
        with self._session(job, self.isolation, wall) as session:
            outcome = session.load()
            if outcome.loaded:
                outcome.cases = session.collect(len(cases))
            return outcome

    @contextmanager
    def serve(
        self, program: str, entry_point: str, budget_cpu_s: float | None = None
    ) -> Iterator[_Session]:
        """A live session: `session.load()`, then `session.call(args, kwargs, cpu_s)` as often
        as needed, within `budget_cpu_s` (default `limits.sample_cpu_s`) of CPU time."""
        budget = self.limits.sample_cpu_s if budget_cpu_s is None else budget_cpu_s
        job = {
            "mode": "calls",
            "program": program,
            "entry_point": entry_point,
            "calls": None,
            "budget_cpu_s": budget + self.limits.load_cpu_s,
            "stop_on_timeout": False,
        }
        with self._session(job, self.isolation, self.limits.wall_s(budget)) as session:
            yield session

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _session(self, job: dict[str, Any], isolation: str, wall_s: float) -> Iterator[_Session]:
        _enable_subreaper()
        limits = self.limits
        job = dict(
            job,
            isolation=isolation,
            limits={
                "sample_cpu_s": limits.sample_cpu_s,
                "load_cpu_s": limits.load_cpu_s,
                "wall_factor": limits.wall_factor,
                "wall_slack_s": limits.wall_slack_s,
                "memory_bytes": limits.memory_bytes,
                "output_bytes": limits.output_bytes,
                "tmpfs_bytes": limits.tmpfs_bytes,
                "nproc": limits.nproc,
                "nofile": limits.nofile,
            },
            uid=self.uid,
            parent_uid=os.geteuid(),
            parent_mount_ns=os.stat("/proc/self/ns/mnt").st_ino,
            sys_path=self.sys_path,
        )
        zygote = _zygote(isolation, self.uid, self.sys_path)
        job["zygote_info"] = zygote.info
        workdir = None
        if isolation == "process":
            workdir = tempfile.mkdtemp(prefix="asap-sandbox-")
            if self.uid is not None:
                os.chown(workdir, self.uid, self.uid)
            job["workdir"] = workdir
        before = _children()
        session = _Session(self, zygote.spawn(), time.monotonic() + wall_s)
        try:
            session.start(job)
            yield session
        finally:
            session.finish()
            if isolation == "process" or not session.ended:
                # no pid namespace, or the zygote's report never came: sweep for escapees
                _kill_strays(before, self.uid)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)


class _Session:
    def __init__(self, sandbox: Sandbox, proc: _RunProcess, deadline: float) -> None:
        self.sandbox = sandbox
        self.proc = proc
        self.deadline = deadline
        self.channel = _Channel(proc, 8 * sandbox.limits.output_bytes + (1 << 20))
        self.info: dict[str, Any] = {}
        self.timed_out = False
        self.ended: dict[str, Any] | None = None  # the zygote's exit report, once read
        self.stderr = ""
        self.calls = 0

    def start(self, job: dict[str, Any]) -> None:
        try:
            self.channel.send(job)
            frame = self.channel.recv(self.deadline)
        except (BrokenPipeError, _Deadline):
            frame = None
        if not frame or "ready" not in frame:
            self.finish()
            raise SandboxError(f"sandbox did not start: {self.stderr.strip()[-2000:]}")
        self.info = frame["ready"]

    def load(self) -> RunOutcome:
        frame = self._recv()
        if frame is not None and frame.get("loaded") is True:
            return RunOutcome(loaded=True, info=self.info)
        if frame is not None and frame.get("loaded") is False:
            kind, error = str(frame.get("kind", "error")), str(frame.get("error", ""))
        else:
            kind, error = self._ended_kind(), self._ended_error()
        return RunOutcome(loaded=False, load_kind=kind, load_error=error, info=self.info)

    def collect(self, count: int) -> list[CaseOutcome]:
        cases = []
        while len(cases) < count:
            frame = self._recv()
            if frame is None or frame.get("i") != len(cases):
                break
            cases.append(_case(frame))
        while len(cases) < count:  # the run ended early: the rest never ran to completion
            cases.append(CaseOutcome(kind=self._ended_kind(), error=self._ended_error()))
        return cases

    def call(self, args: str, kwargs: str, cpu_s: float) -> CaseOutcome:
        """One call in serve mode; a dead or overdue sandbox answers timeout/error."""
        if self.ended is None and not self.timed_out:
            deadline = min(self.deadline, time.monotonic() + self.sandbox.limits.wall_s(cpu_s))
            try:
                self.channel.send({"args": args, "kwargs": kwargs, "cpu_s": cpu_s})
                frame = self._recv(deadline)
            except BrokenPipeError:
                frame = None
            if frame is not None and frame.get("i") == self.calls:
                self.calls += 1
                return _case(frame)
        return CaseOutcome(kind=self._ended_kind(), error=self._ended_error())

    def _recv(self, deadline: float | None = None) -> dict[str, Any] | None:
        if self.ended is not None or self.timed_out:
            return None
        try:
            frame = self.channel.recv(self.deadline if deadline is None else deadline)
        except _Deadline:
            self.timed_out = True
            self.finish()
            return None
        if frame is None:
            self.finish()
        return frame

    def _ended_kind(self) -> str:
        if self.timed_out:
            return "timeout"
        report = (self.ended or {}).get("exit") or {}
        if report.get("signal") in (signal.SIGKILL, signal.SIGXCPU, signal.SIGPROF):
            return "timeout"  # RLIMIT_CPU ends the process with SIGXCPU, then SIGKILL
        return "error"

    def _ended_error(self) -> str:
        if self.timed_out:
            return "wall-clock deadline passed"
        report = (self.ended or {}).get("exit")
        return f"sandbox process ended early: {report}" if report else "sandbox process ended"

    def _read_report(self, deadline: float) -> str:
        """stderr up to the exit report (or EOF, or the deadline)."""
        fd = self.proc.stderr.fileno()  # type: ignore[union-attr]
        data = bytearray()
        while b'{"exit"' not in data or not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                del data[: len(data) - (1 << 16)]
        return data.decode("utf-8", "replace")

    def finish(self) -> None:
        """End the run (idempotent) and read the zygote's exit report, which comes once every
        process the run left is gone (with namespaces; without, its process group)."""
        if self.ended is not None:
            return
        proc = self.proc
        stderr = ""
        if not self.timed_out:
            with suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            stderr = self._read_report(min(self.deadline, time.monotonic() + 1.0))
        if '{"exit"' not in stderr:
            proc.kill()  # the zygote then ends what the run left, and reports
            stderr += self._read_report(time.monotonic() + 5.0)
        proc.close()
        self.stderr = stderr
        self.ended = {}
        for line in reversed(stderr.splitlines()):
            if line.startswith('{"exit"'):
                with suppress(ValueError):
                    self.ended = json.loads(line)
                break


def _case(frame: dict[str, Any]) -> CaseOutcome:
    kind = frame.get("kind")
    if kind not in ("ok", "error", "timeout", "memory", "output_limit", "unserializable"):
        return CaseOutcome(kind="error", error=f"garbled frame: {str(frame)[:200]}")
    value = frame.get("value")
    stdout = frame.get("stdout")
    cpu = frame.get("cpu_s")
    return CaseOutcome(
        kind=kind,
        value=value if isinstance(value, str) else None,
        stdout=stdout if isinstance(stdout, str) else None,
        error=str(frame.get("error") or "")[:2000],
        cpu_s=float(cpu) if isinstance(cpu, int | float) and math.isfinite(cpu) else 0.0,
    )
