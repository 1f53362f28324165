"""The half of the sandbox that runs inside it (see `asap.eval.sandbox` for the design).

Imports only the standard library: it runs in ``python -S`` (no site-packages) and must not
see the package. `zygote` runs once per worker: it enters the namespaces every run shares
(network with a down loopback, a mount namespace where everything is read-only, a pid
namespace whose init it becomes) and preloads modules, then forks one process per run
(`run`), one run at a time. The zygote never runs untrusted code: when a run's process exits
it kills every process left in the pid namespace, reaps them, and only then reports how the
run ended, as ``{"exit": {"code", "signal", "cpu_s"}}`` on the run's stderr, which the run no
longer holds once the program runs. A run enters its own mount and ipc namespaces; while
still privileged it mounts a fresh tmpfs scratch, drops privileges and sets limits; then it
runs the program and reports raw observations (return values, stdout, how each case ended).
It never sees expected outputs and never decides a verdict: the caller compares.

Protocol of a run (one JSON object per line). Caller -> run on stdin: the job, then, in serve
mode, one call request per line. Run -> caller on stdout::

    {"ready": {...}}                       isolation is in place, untrusted code not yet run
    {"loaded": true} | {"loaded": false, "kind": K, "error": E}     program compiled and ran
    {"i": n, "kind": K, "value": V, "stdout": S, "error": E, "cpu_s": t}   one per case
    {"done": true}

K is one of ok, error, timeout, memory, output_limit, unserializable. V is a value encoded by
`dumps_value` (a JSON text in a string); the value codec below is shared with the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time

# ----------------------------------------------------------------------------------------------
# Value codec: plain builtin values only (subclasses as the builtin value they hold), so a
# returned object cannot smuggle its own __eq__ into the parent's comparison. Every JSON object
# in an encoded value is a tag.

INT_JSON_LIMIT = 1 << 63  # larger ints travel as hex: str(int) is capped at 4300 digits
MAX_DEPTH = 100
MAX_NODES = 1_000_000


class Unserializable(Exception):
    """The value is not plain data (an arbitrary object, a cycle, too deep or too big)."""


def _encode(value, depth):
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return (
            value if -INT_JSON_LIMIT <= value < INT_JSON_LIMIT else {"__int__": format(value, "x")}
        )
    if depth > MAX_DEPTH:
        raise Unserializable(f"nesting deeper than {MAX_DEPTH}")
    depth += 1
    if kind is list:
        return [_encode(item, depth) for item in value]
    if kind is tuple:
        return {"__tuple__": [_encode(item, depth) for item in value]}
    if kind is dict:
        return {"__dict__": [[_encode(k, depth), _encode(v, depth)] for k, v in value.items()]}
    if kind is set or kind is frozenset:
        return {"__" + kind.__name__ + "__": [_encode(item, depth) for item in value]}
    if kind is bytes:
        return {"__bytes__": value.hex()}
    if kind is complex:
        return {"__complex__": [value.real, value.imag]}
    name = kind.__name__
    if name == "ListNode":
        return {"__list_node__": [_encode(v, depth) for v in _linked_values(value)]}
    if name == "TreeNode":
        return {"__tree_node__": [_encode(v, depth) for v in _tree_values(value)]}
    plain = _builtin_value(value)
    if plain is not None:
        return _encode(plain, depth - 1)
    if (
        kind.__module__ == "numpy"
        and getattr(value, "shape", None) == ()
        and hasattr(value, "item")
    ):
        item = value.item()  # numpy scalar -> the builtin it wraps, checked again
        if type(item) is not kind:
            return _encode(item, depth)
    raise Unserializable(f"a value of type {name} is not plain data")


# Subclasses of builtin types (collections.Counter, defaultdict, OrderedDict, namedtuples,
# IntEnum members, ...) travel as the builtin value they hold, read through the builtin type's
# own methods: every reference harness compares them with ``==`` and accepts them, and an
# override in the subclass (``__eq__``, ``__iter__``, ``items``) cannot change what is sent.
_BUILTIN_BASES = (
    (int, int.__int__),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, bytes.__bytes__),
    (complex, lambda v: complex(complex.real.__get__(v), complex.imag.__get__(v))),
    (dict, lambda v: dict(dict.items(v))),
    (tuple, lambda v: tuple(tuple.__iter__(v))),
    (list, lambda v: list(list.__iter__(v))),
    (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: set(set.__iter__(v))),
)


def _builtin_value(value):
    """The exact builtin value held by an instance of a builtin type's subclass, else None."""
    for base, convert in _BUILTIN_BASES:
        if isinstance(value, base):
            plain = convert(value)
            return plain if type(plain) is base else None
    return None


def _linked_values(head):
    values, seen, node = [], set(), head
    while node is not None:
        if id(node) in seen or len(values) >= MAX_NODES:
            raise Unserializable("cyclic or oversized ListNode chain")
        seen.add(id(node))
        values.append(node.val)
        node = node.next
    return values


def _tree_values(root):
    """Level order with None for missing children, trailing Nones dropped (LeetCode form)."""
    values, queue, seen, position = [], [root], set(), 0
    while position < len(queue):
        node = queue[position]
        position += 1
        if node is None:
            values.append(None)
            continue
        if id(node) in seen or len(queue) > 2 * MAX_NODES:
            raise Unserializable("cyclic or oversized TreeNode structure")
        seen.add(id(node))
        values.append(node.val)
        queue.append(node.left)
        queue.append(node.right)
    while values and values[-1] is None:
        values.pop()
    return values


def dumps_value(value):
    """JSON text of a plain value; raises Unserializable for anything else."""
    try:
        return json.dumps(_encode(value, 0), ensure_ascii=False, allow_nan=True)
    except RecursionError:
        raise Unserializable("value too deeply nested") from None


class DecodeError(ValueError):
    """An encoded value is malformed."""


def build_list_node(cls, values):
    head = None
    for val in reversed(values):
        head = cls(val, head)
    return head


def build_tree_node(cls, values):
    if not values or values[0] is None:
        return None
    root = cls(values[0])
    queue, position, index = [root], 0, 1
    while position < len(queue) and index < len(values):
        node = queue[position]
        position += 1
        if index < len(values) and values[index] is not None:
            node.left = cls(values[index])
            queue.append(node.left)
        index += 1
        if index < len(values) and values[index] is not None:
            node.right = cls(values[index])
            queue.append(node.right)
        index += 1
    return root


def loads_value(text, node_factory=None):
    """Inverse of `dumps_value`. `node_factory(kind, values)` builds ListNode/TreeNode values
    ("list_node" / "tree_node"); without one they decode to `("<kind>", tuple(values))`."""

    def hook(obj):
        if len(obj) != 1:
            raise DecodeError("untagged JSON object in an encoded value")
        ((tag, payload),) = obj.items()
        try:
            if tag == "__tuple__":
                return tuple(payload)
            if tag == "__dict__":
                return {key: val for key, val in payload}
            if tag == "__set__":
                return set(payload)
            if tag == "__frozenset__":
                return frozenset(payload)
            if tag == "__int__":
                return int(payload, 16)
            if tag == "__bytes__":
                return bytes.fromhex(payload)
            if tag == "__complex__":
                return complex(payload[0], payload[1])
            if tag in ("__list_node__", "__tree_node__"):
                kind = tag.strip("_")
                if node_factory is None:
                    return ("<" + kind + ">", tuple(payload))
                return node_factory(kind, payload)
        except (TypeError, ValueError) as err:
            raise DecodeError(f"bad {tag} payload: {err}") from None
        raise DecodeError(f"unknown tag {tag!r}")

    try:
        return json.loads(text, object_hook=hook)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise DecodeError(str(err)) from None


# ----------------------------------------------------------------------------------------------
# Isolation set-up (runs privileged, before any untrusted code).

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MNT_DETACH = 2
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 28, 38, 47
PR_SET_KEEPCAPS, CAP_DAC_READ_SEARCH, PR_SET_DUMPABLE = 8, 2, 4
SECUREBITS_LOCKED_NOROOT = 0x2F  # NOROOT, NO_SETUID_FIXUP and KEEP_CAPS off, all locked
WRITABLE_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MEMORY_EXIT, OUTPUT_EXIT = 3, 4


class SetupError(RuntimeError):
    pass


_LIBC = []


def _libc():
    if not _LIBC:
        import ctypes

        _LIBC.extend((ctypes, ctypes.CDLL(None, use_errno=True)))
    return _LIBC[0], _LIBC[1]


def _check(ctypes, result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _unescape_mount_path(path):
    for code in ("\\040", "\\011", "\\012", "\\134"):
        path = path.replace(code, chr(int(code[1:], 8)))
    return path


def _mount_points():
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            yield _unescape_mount_path(fields[4]), fields[5].split(",")


def _blocked_ancestor(path, uid):
    """First directory on `path` that `uid` (not its owner, no group) cannot traverse."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        info = os.stat(current)
        if info.st_uid != uid and not info.st_mode & 0o001:
            return current
    return None


def _expose(ctypes, libc, paths, uid):
    """Keep `paths` (the interpreter, site-packages) readable by `uid` when an ancestor such as
    /root is private: cover that ancestor with an empty tmpfs and bind only `paths` back."""
    covers = {}
    for path in _outermost_dirs(paths):
        blocked = _blocked_ancestor(path, uid)
        if blocked is not None and blocked != path:
            covers.setdefault(blocked, []).append(path)
    for number, (cover, inner) in enumerate(sorted(covers.items())):
        staged = []
        for index, path in enumerate(inner):
            stage = f"/tmp/.expose-{number}-{index}"
            os.mkdir(stage)
            _check(
                ctypes,
                libc.mount(path.encode(), stage.encode(), None, MS_BIND | MS_REC, None),
                "bind " + path,
            )
            staged.append((stage, path))
        _check(
            ctypes,
            libc.mount(
                b"tmpfs", cover.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=755"
            ),
            "cover " + cover,
        )
        for stage, path in staged:
            os.makedirs(path, 0o755, exist_ok=True)
            _check(
                ctypes,
                libc.mount(stage.encode(), path.encode(), None, MS_BIND | MS_REC, None),
                "rebind " + path,
            )
            _check(ctypes, libc.umount2(stage.encode(), MNT_DETACH), "unstage " + path)
            os.rmdir(stage)
    return sorted(covers)


def _remount_read_only(libc):
    failed = []
    for target, options in _mount_points():
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= MOUNT_OPTION_FLAGS.get(option, 0)
        if libc.mount(None, target.encode(), None, flags, None) != 0:
            failed.append(target)
    return failed


def _not_parent_namespace(config):
    if os.stat("/proc/self/ns/mnt").st_ino == config["parent_mount_ns"]:
        raise SetupError("not in a private mount namespace; refusing to touch mounts")


def prepare_zygote(config):
    """Set-up shared by every run of one zygote: a network namespace whose only interface is
    a loopback that is down, a private mount namespace in which every mount is read-only
    and private ancestors of the interpreter (e.g. /root) are covered, and a pid namespace for
    the runs (its init, forked next, is the zygote's serving half)."""
    isolation = config["isolation"]
    if isolation == "process":
        return {}
    ctypes, libc = _libc()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    uid, gid = os.geteuid(), os.getegid()
    if isolation == "userns":
        flags |= CLONE_NEWUSER
    _check(ctypes, libc.unshare(flags), "unshare")
    if isolation == "userns":  # map this user to root of the new namespace, nothing else
        maps = (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1"))
        for name, text in maps:
            with open("/proc/self/" + name, "w") as handle:
                handle.write(text)
    _not_parent_namespace(config)
    _check(ctypes, libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    covered = []
    if config.get("uid") is not None and isolation == "namespaces":
        stage = b"size=1m,mode=700"
        _check(ctypes, libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, stage), "staging tmpfs")
        paths = [sys.base_prefix, *sys.path, *config.get("sys_path", ())]
        covered = _expose(ctypes, libc, paths, config["uid"])
        _check(ctypes, libc.umount2(b"/tmp", MNT_DETACH), "unmount staging tmpfs")
    libc.umount2(b"/sys/fs/cgroup", MNT_DETACH)  # fewer mounts to copy per run; not needed
    failed = _remount_read_only(libc)
    if "/" in failed:
        raise SetupError("could not make / read-only")
    return {"readonly_failed": failed, "covered": covered}


def _enter_run_namespaces(job):
    """Per run: new mount (fresh scratch) and ipc namespaces."""
    if job["isolation"] == "process":
        return
    ctypes, libc = _libc()
    _check(ctypes, libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare")


def _outermost_dirs(paths):
    """Real paths of the existing directories among `paths`, dropping those nested in another."""
    roots = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    return [p for p in roots if not any(p.startswith(q + "/") for q in roots if q != p)]


def _under_scratch(config):
    """Directories the runs need (interpreter, site-packages) that lie in a scratch dir, as when
    the environment sits under /tmp: the fresh scratch tmpfs would hide them."""
    scratch = [os.path.realpath(t) for t in WRITABLE_SCRATCH if os.path.isdir(t)]
    needed = _outermost_dirs([sys.base_prefix, *sys.path, *config.get("sys_path", ())])
    return [p for p in needed if any(p.startswith(t + "/") for t in scratch)]


_SCRATCH_BINDS = []  # `_under_scratch`, found once by the zygote


def _mount_proc():
    """A /proc of the runs' pid namespace, mounted once by its init: the mount namespace every
    run copies then shows only the runs' processes. False where the kernel refuses it."""
    _, libc = _libc()
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
    return libc.mount(b"proc", b"/proc", b"proc", flags, None) == 0


def _scratch_filesystem(job):
    """Fresh size-capped tmpfs on the scratch dirs and a new working dir. What the runs need
    from inside a scratch dir is bound back, read-only as every other mount."""
    ctypes, libc = _libc()
    _not_parent_namespace(job)
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in _SCRATCH_BINDS]
    size = f"size={job['limits']['tmpfs_bytes']},mode=1777".encode()
    for target in WRITABLE_SCRATCH:
        if os.path.isdir(target):
            result = libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, size)
            _check(ctypes, result, "tmpfs on " + target)
    for path, fd in kept:  # the fd still reaches the hidden directory; binds copy ro flags
        os.makedirs(path, 0o755, exist_ok=True)
        source = f"/proc/self/fd/{fd}".encode()
        _check(ctypes, libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), path)
        os.close(fd)
    workdir = "/tmp/sandbox"
    os.mkdir(workdir, 0o700)
    return workdir


AUDIT_ARCH_X86_64, X32_SYSCALL_BIT = 0xC000003E, 0x40000000
NR_SOCKETPAIR, NR_CLONE, NR_CLONE3 = 53, 56, 435
SOCK_STREAM, SOCK_TYPE_MASK, EACCES, ENOSYS = 1, 0xF, 13, 38
CLONE_NEWCGROUP = 0x02000000
CLONE_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC
CLONE_NAMESPACES |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_ABS, BPF_JEQ, BPF_JGE, BPF_RET, BPF_AND_K = 0x20, 0x15, 0x35, 0x06, 0x54

# System calls a run cannot make at all, answered EACCES (x86_64 numbers). Why each one: the
# table in `asap.eval.sandbox`.
DENIED_CALLS = {
    "socket": 41,
    "connect": 42,
    "io_uring_setup": 425,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "reboot": 169,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "create_module": 174,
    "get_kernel_syms": 177,
    "query_module": 178,
    "acct": 163,
    "quotactl": 179,
    "quotactl_fd": 443,
    "swapon": 167,
    "swapoff": 168,
    "settimeofday": 164,
    "clock_settime": 227,
    "clock_adjtime": 305,
    "adjtimex": 159,
    "ioperm": 173,
    "iopl": 172,
    "syslog": 103,
    "lookup_dcookie": 212,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "unshare": 272,
    "setns": 308,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "pidfd_getfd": 438,
    "kcmp": 312,
    "move_pages": 279,
    "migrate_pages": 256,
    "sysfs": 139,
    "ustat": 136,
    "uselib": 134,
    "_sysctl": 156,
    "nfsservctl": 180,
}


def _filter_program():
    """The runs' seccomp program as (code, jt, jf, k) rows: every ABI but x86_64 (i386, x32)
    denied, `DENIED_CALLS` denied, socketpair() for stream pairs only, clone() without
    namespace flags only, and clone3() answered ENOSYS, as container runtimes do: its flags lie
    in memory a filter cannot read, and libc then falls back to clone() (threads).

    Without socket() a run cannot open any network (IP, vsock to the hypervisor, packet,
    netlink) even where there is no network namespace, nor reach a Unix-domain socket of the
    host that it can see (a socket file under a read-only mount, or an abstract name): a
    connect() or sendto() to a path or name needs a socket from socket(2). socketpair(2)
    creates two sockets connected to each other and to nothing else; it stays allowed for
    SOCK_STREAM (asyncio, multiprocessing.Pipe) and is refused for datagram and seqpacket
    pairs, whose sockets could still send to a named address."""
    code = [  # a string is a label; jumps name one (None: the next row)
        (BPF_LD_ABS, None, None, 4),  # arch
        (BPF_JEQ, None, "deny", AUDIT_ARCH_X86_64),
        (BPF_LD_ABS, None, None, 0),  # system call number
        (BPF_JGE, "deny", None, X32_SYSCALL_BIT),
        *[(BPF_JEQ, "deny", None, number) for number in sorted(DENIED_CALLS.values())],
        (BPF_JEQ, "enosys", None, NR_CLONE3),
        (BPF_JEQ, "clone", None, NR_CLONE),
        (BPF_JEQ, None, "allow", NR_SOCKETPAIR),
        (BPF_LD_ABS, None, None, 24),  # socketpair's type (second argument, low word)
        (BPF_AND_K, None, None, SOCK_TYPE_MASK),  # without SOCK_CLOEXEC / SOCK_NONBLOCK
        (BPF_JEQ, "allow", "deny", SOCK_STREAM),
        "clone",
        (BPF_LD_ABS, None, None, 16),  # clone's flags (first argument, low word)
        (BPF_AND_K, None, None, CLONE_NAMESPACES),
        (BPF_JEQ, "allow", "deny", 0),
        "allow",
        (BPF_RET, None, None, SECCOMP_RET_ALLOW),
        "deny",
        (BPF_RET, None, None, SECCOMP_RET_ERRNO | EACCES),
        "enosys",
        (BPF_RET, None, None, SECCOMP_RET_ERRNO | ENOSYS),
    ]
    labels, rows = {}, []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(rows)
        else:
            rows.append(item)

    def offset(label, index):
        jump = 0 if label is None else labels[label] - index - 1
        if not 0 <= jump <= 255:
            raise SetupError(f"seccomp jump to {label} out of range")
        return jump

    return [(op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(rows)]


def _build_filter(ctypes):
    """The filter as the kernel takes it. x86_64 only. Returns (pointer, buffers...)."""
    program = _filter_program()

    class SockFilter(ctypes.Structure):
        _fields_ = [  # noqa: RUF012 (ctypes wants a list)
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        ]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]  # noqa: RUF012

    filters = (SockFilter * len(program))(*[SockFilter(*row) for row in program])
    fprog = SockFprog(len(program), filters)
    return ctypes.byref(fprog), filters, fprog


_SECCOMP = []  # the filter, built once (in the zygote) and installed by every run


def _install_filter(ctypes, libc):
    """Install the runs' seccomp filter; False where it does not apply (not x86_64)."""
    if os.uname().machine != "x86_64":
        return False
    if not _SECCOMP:
        _SECCOMP.extend(_build_filter(ctypes))
    result = libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _SECCOMP[0], 0, 0)
    _check(ctypes, result, "seccomp filter")
    return True


# keyctl(2) by machine (glibc has no wrapper; the filter denies it on x86_64 once installed)
NR_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 271, "s390x": 280}
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR = 0, 1, 7
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5


def _keyctl(*args):
    """(result, errno) of keyctl(2); ENOSYS on a machine not in NR_KEYCTL."""
    number = NR_KEYCTL.get(os.uname().machine)
    if number is None:
        return -1, ENOSYS
    ctypes, libc = _libc()
    libc.syscall.restype = ctypes.c_long
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(arg) for arg in args])
    return result, ctypes.get_errno() if result < 0 else 0


def _fresh_session_keyring(own_uid=False):
    """Join a new, empty session keyring: nothing the evaluating process holds in its session
    keyring is in reach (possession would grant it whatever the uid), even where the filter
    does not deny keyctl. With a uid of its own (`own_uid`), also empty that uid's user and
    user-session keyrings, which outlive runs and evaluations. False where this process
    cannot use keyrings at all (no keyctl, or a filter above the sandbox refuses it)."""
    result, err = _keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
    if result < 0:
        if _keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)[0] >= 0:
            raise SetupError(f"new session keyring: {os.strerror(err)}")
        return False
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING) if own_uid else ():
        result, err = _keyctl(KEYCTL_CLEAR, keyring)
        if result < 0:
            raise SetupError(f"clearing user keyring {keyring}: {os.strerror(err)}")
    return True


def _capset(ctypes, libc, capabilities):
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    mask = 0
    for cap in capabilities:
        mask |= 1 << cap
    data = (ctypes.c_uint32 * 6)(mask, mask, 0, 0, 0, 0)  # effective, permitted, inheritable
    _check(ctypes, libc.capset(header, data), "capset")


def _drop_privileges(job, workdir):
    """Root: switch to the slot's unprivileged uid. User namespace: drop every capability.
    Then a fresh session keyring, and last the seccomp filter (`_filter_program`).

    Without a mount namespace the interpreter may sit under a private home (/root/.pyenv): the
    process level then keeps CAP_DAC_READ_SEARCH (read any file, write nothing more)."""
    ctypes, libc = _libc()
    for cap in range(64):  # no capability can come back through execve
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    uid = job.get("uid")
    own_uid = uid is not None and os.geteuid() == 0 and job["isolation"] != "userns"
    if own_uid:
        keep = [CAP_DAC_READ_SEARCH] if job["isolation"] == "process" else []
        os.chown(workdir, uid, uid)
        libc.prctl(PR_SET_KEEPCAPS, 1 if keep else 0, 0, 0, 0)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if keep:
            _capset(ctypes, libc, keep)
    elif os.geteuid() == 0:  # root of a user namespace
        _check(
            ctypes, libc.prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED_NOROOT, 0, 0, 0), "securebits"
        )
        _capset(ctypes, libc, [])
    _check(ctypes, libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    keyring = _fresh_session_keyring(own_uid)  # keyctl still allowed: before the filter
    return os.geteuid(), keyring, _install_filter(ctypes, libc)


def _set_limit(which, soft, hard=None):
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def _count_own_processes():
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat("/proc/" + entry).st_uid == uid
    return count


# One thread per BLAS/OpenMP pool, as lcb_runner sets OMP_NUM_THREADS=1: a pool that starts one
# thread per core fails under RLIMIT_NPROC (numpy then dies at import) and a solution's
# threads would only compete with the other workers for the cores.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _setup(job):
    isolation = job["isolation"]
    info = {"isolation": isolation}
    namespaces = isolation in ("namespaces", "userns")
    workdir = _scratch_filesystem(job) if namespaces else job["workdir"]
    info["uid"], info["session_keyring"], info["seccomp"] = _drop_privileges(job, workdir)
    os.chdir(workdir)
    os.umask(0o077)
    limits = job["limits"]
    nproc = limits["nproc"]
    if isolation == "process" and info["uid"] == job.get("parent_uid"):
        nproc += _count_own_processes()  # RLIMIT_NPROC counts every process of this uid
    _set_limit(resource.RLIMIT_NPROC, nproc)
    _set_limit(resource.RLIMIT_CORE, 0)
    _set_limit(resource.RLIMIT_NOFILE, limits["nofile"])
    _set_limit(resource.RLIMIT_AS, limits["memory_bytes"])
    os.environ.clear()
    os.environ.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        HOME=workdir,
        TMPDIR=workdir,
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        **dict.fromkeys(THREAD_VARIABLES, "1"),
    )
    sys.path.extend(job.get("sys_path", ()))
    return workdir, info


# ----------------------------------------------------------------------------------------------
# Running untrusted code.


class _CaseTimeout(BaseException):
    """Raised by the CPU-time alarm; a BaseException so `except Exception` does not eat it."""


def _on_cpu_alarm(signum, frame):
    raise _CaseTimeout()


_OWNER = []  # pid of the harness process; a copy made by os.fork() in user code never reports


def _forked_copy_exits():
    if _OWNER and os.getpid() != _OWNER[0]:
        os._exit(0)


def _describe(err):
    try:
        text = f"{type(err).__name__}: {err}"
    except BaseException:
        text = type(err).__name__
    return text[:1000]


class _Writer:
    def __init__(self, fd):
        self.fd = fd

    def send(self, obj):
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def _cpu_now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load(program, namespace, cpu_s):
    """Compile and run the program's top level; returns (kind, error)."""
    try:
        code = compile(program, "<solution>", "exec")
    except BaseException as err:
        return "error", _describe(err)
    signal.setitimer(signal.ITIMER_PROF, max(cpu_s, 0.01))
    try:
        try:
            exec(code, namespace)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            _forked_copy_exits()
    except _CaseTimeout:
        return "timeout", "top level ran out of CPU time"
    except MemoryError:
        return "memory", "MemoryError"
    except BaseException as err:
        return "error", _describe(err)
    return "ok", None


def _node_factory(namespace):
    def build(kind, values):
        cls = namespace.get("ListNode" if kind == "list_node" else "TreeNode")
        if cls is None:
            raise DecodeError(f"the program defines no class for {kind} values")
        if kind == "list_node":
            return build_list_node(cls, values)
        return build_tree_node(cls, values)

    return build


def _call(function, request, namespace, cpu_s):
    """One call; the result is encoded while the CPU alarm is still armed."""
    frame = {"kind": "ok"}
    started = _cpu_now()
    signal.setitimer(signal.ITIMER_PROF, max(cpu_s, 0.01))
    try:
        try:
            factory = _node_factory(namespace)
            args = loads_value(request["args"], factory)
            kwargs = loads_value(request.get("kwargs", '{"__dict__": []}'), factory)
            frame["value"] = dumps_value(function(*args, **kwargs))
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            _forked_copy_exits()
    except _CaseTimeout:
        frame["kind"] = "timeout"
    except MemoryError:
        frame["kind"] = "memory"
    except Unserializable as err:
        frame.update(kind="unserializable", error=str(err))
    except BaseException as err:
        frame.update(kind="error", error=_describe(err))
    frame["cpu_s"] = round(_cpu_now() - started, 6)
    return frame


def _resolve(entry_point, namespace):
    if "(" in entry_point:  # e.g. "Solution().twoSum": one instance for every call
        return eval(entry_point, namespace)
    return namespace[entry_point]


def _serve_calls(job, reader, writer):
    limits = job["limits"]
    budget = job["budget_cpu_s"]
    _set_limit(resource.RLIMIT_FSIZE, limits["output_bytes"])
    backstop = int(budget + 1.5)  # the CPU alarm ends calls; this ends a program that stops it
    _set_limit(resource.RLIMIT_CPU, backstop, backstop + 1)
    namespace = _fresh_module("solution")
    kind, error = _load(job["program"], namespace, min(limits["load_cpu_s"], budget))
    if kind == "ok":
        try:
            function = _resolve(job["entry_point"], namespace)
        except BaseException as err:
            entry = job["entry_point"]
            kind, error = "error", f"entry point {entry}: {_describe(err)}"
    if kind != "ok":
        writer.send({"loaded": False, "kind": kind, "error": error})
        return
    writer.send({"loaded": True})
    requests = job.get("calls")
    index = 0
    while True:
        if requests is not None:
            if index >= len(requests):
                break
            request = requests[index]
        else:
            line = reader.readline()
            if not line:
                break
            request = json.loads(line)
        remaining = budget - _cpu_now()
        frame = _call(function, request, namespace, min(request["cpu_s"], remaining))
        frame["i"] = index
        writer.send(frame)
        index += 1
        if frame["kind"] == "timeout" and job.get("stop_on_timeout") and requests is not None:
            _skip_after_timeout(writer, index, len(requests))
            break
    writer.send({"done": True})


def _skip_after_timeout(writer, start, stop):
    for index in range(start, stop):
        writer.send({"i": index, "kind": "timeout", "error": "not run: an earlier case timed out"})


def _stdin_child(code, paths, cpu_s, limits, keep_fds):
    """Runs in a forked child: the program as __main__ with the case's stdin; never returns."""
    status = 1
    try:
        os.setpgid(0, 0)
        for fd in keep_fds:
            os.close(fd)
        for number, (path, flags) in enumerate(
            (
                (paths[0], os.O_RDONLY),
                (paths[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                (paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            )
        ):
            fd = os.open(path, flags, 0o600)
            os.dup2(fd, number)
            os.close(fd)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        _set_limit(resource.RLIMIT_FSIZE, limits["output_bytes"])
        _set_limit(resource.RLIMIT_CPU, int(cpu_s) + 1, int(cpu_s) + 2)
        import io

        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True
        )
        signal.setitimer(signal.ITIMER_PROF, max(cpu_s, 0.01))  # SIGPROF ends the process
        status = _run_main(code)
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _fresh_module(name):
    """The namespace of a new module registered in sys.modules (dataclasses, pickle need it)."""
    module = type(sys)(name)
    module.__builtins__ = __builtins__
    sys.modules[name] = module
    return module.__dict__


def _run_main(code):
    namespace = _fresh_module("__main__")
    try:
        exec(code, namespace)
        if "threading" in sys.modules:  # wait for non-daemon threads, as interpreter exit does
            threading = sys.modules["threading"]
            for thread in threading.enumerate():
                if thread is not threading.main_thread() and not thread.daemon:
                    thread.join()
        status = 0
    except SystemExit as exit_:
        # lcb_runner catches SystemExit whatever its code and grades what was printed, so a
        # program ending with sys.exit(1) or exit("done") is judged by its output
        status = 0
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
    except MemoryError:
        return MEMORY_EXIT
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    try:
        sys.stdout.flush()
    except OSError:
        return OUTPUT_EXIT
    return status


def _wait_child(pid, wall_s):
    """(wait status, rusage, killed) of `pid`, killing its process group at the deadline."""
    import select

    deadline = time.monotonic() + wall_s
    killed = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage, killed
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not killed:
                for target in (-pid, pid):
                    with contextlib.suppress(OSError):
                        os.kill(target, signal.SIGKILL)
                killed = True
                remaining = 1.0
            if pidfd is None:
                time.sleep(min(max(remaining, 0), 0.002))
            else:
                select.select([pidfd], [], [], max(remaining, 0))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _read_tail(path, limit, tail=False):
    try:
        with open(path, "rb") as handle:
            if tail:
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - limit))
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _serve_stdin(job, reader, writer):
    limits = job["limits"]
    try:
        code = compile(job["program"], "<solution>", "exec")
    except BaseException as err:
        writer.send({"loaded": False, "kind": "error", "error": _describe(err)})
        return
    writer.send({"loaded": True})
    keep_fds = (reader.fileno(), writer.fd)
    paths = ("case.in", "case.out", "case.err")
    for index, case in enumerate(job["cases"]):
        with open(paths[0], "w", encoding="utf-8") as handle:
            handle.write(case["input"])
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _stdin_child(code, paths, case["cpu_s"], limits, keep_fds)
        wall_s = case["cpu_s"] * limits["wall_factor"] + limits["wall_slack_s"]
        status, usage, killed = _wait_child(pid, wall_s)
        with contextlib.suppress(OSError):
            os.kill(-pid, signal.SIGKILL)  # whatever the case left in its process group
        frame = {"i": index, "cpu_s": round(usage.ru_utime + usage.ru_stime, 6)}
        out_size = os.path.getsize(paths[1]) if os.path.exists(paths[1]) else 0
        if killed:
            frame["kind"] = "timeout"
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            cpu_signals = (signal.SIGPROF, signal.SIGXCPU, signal.SIGKILL)
            frame["kind"] = "timeout" if sig in cpu_signals else "error"
            frame["error"] = f"killed by signal {sig}"
        elif out_size >= limits["output_bytes"] or os.WEXITSTATUS(status) == OUTPUT_EXIT:
            frame["kind"] = "output_limit"
        elif os.WEXITSTATUS(status) == MEMORY_EXIT:
            frame["kind"] = "memory"
        elif os.WEXITSTATUS(status) != 0:
            frame["kind"] = "error"
        else:
            frame["kind"] = "ok"
            frame["stdout"] = _read_tail(paths[1], limits["output_bytes"])
        if frame["kind"] != "ok":
            frame.setdefault("error", _read_tail(paths[2], 2000, tail=True))
        writer.send(frame)
        if frame["kind"] == "timeout" and job.get("stop_on_timeout"):
            _skip_after_timeout(writer, index + 1, len(job["cases"]))
            break
    writer.send({"done": True})


def run(job_reader):
    """One sandboxed run, forked by the zygote; never returns. fds 0/1/2: job and requests,
    frames, and stderr (left for the zygote's exit report once the program runs)."""
    job = json.loads(job_reader.readline())
    _enter_run_namespaces(job)
    _OWNER.append(os.getpid())
    sys.modules["random"].seed(0)  # fork reseeded it from the OS; reruns must give equal results
    writer = _Writer(os.dup(1))
    workdir, info = _setup(job)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    output = os.open(os.path.join(workdir, "stdout.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(output, 1)
    os.dup2(output, 2)  # from here on the report channel is out of reach
    os.close(output)
    signal.signal(signal.SIGPROF, _on_cpu_alarm)
    writer.send({"ready": dict(job.get("zygote_info") or {}, **info)})
    mode = job["mode"]
    if mode == "calls":
        _serve_calls(job, job_reader, writer)
    elif mode == "stdin":
        _serve_stdin(job, job_reader, writer)
    os._exit(0)  # skip interpreter teardown: untrusted atexit hooks and finalizers do not run


PRELOADED = [
    "string",
    "re",
    "datetime",
    "collections",
    "heapq",
    "bisect",
    "copy",
    "math",
    "random",
    "statistics",
    "itertools",
    "functools",
    "operator",
    "io",
    "json",
    "typing",
    "decimal",
    "fractions",
    "dataclasses",
    "traceback",
    "select",
]


class _Quitter:
    """`exit` / `quit` as the `site` module defines them (runs use ``python -S``, without it):
    calling one raises SystemExit, as in the interpreter the reference harnesses run."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code=None):
        raise SystemExit(code)


def _install_exit_builtins():
    import builtins

    for name in ("exit", "quit"):
        if not hasattr(builtins, name):
            setattr(builtins, name, _Quitter(name))


def _warm_up():
    """Work every run would repeat, done once in the zygote: runs inherit it through fork."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    _install_exit_builtins()
    ctypes, _ = _libc()
    if os.uname().machine == "x86_64" and not _SECCOMP:
        _SECCOMP.extend(_build_filter(ctypes))
    import gc

    gc.collect()
    gc.freeze()  # runs' collections skip the inherited objects: fewer copy-on-write faults


def _line(sock, obj, fds=()):
    """One message to the caller: a JSON object and the descriptors `fds`."""
    import socket

    socket.send_fds(sock, [json.dumps(obj).encode()], list(fds))


class _Run:
    """A run the zygote forked: its pid, a pidfd, and the write end of its stderr."""

    def __init__(self, pid, stderr):
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.stderr = stderr
        self.ended = None  # (wait status, rusage) once reaped


def _start_run(sock, fds):
    """Fork a run on the caller's three descriptors (its stdin, stdout, stderr)."""
    pid = os.fork()
    if pid == 0:
        try:
            sock.close()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _libc()[1].prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            os.setsid()
            for number, fd in enumerate(fds):
                os.dup2(fd, number)
            for fd in fds:
                os.close(fd)
            run(os.fdopen(os.dup(0), "rb"))
        except BaseException:
            import traceback

            traceback.print_exc()
        os._exit(1)
    os.close(fds[0])
    os.close(fds[1])
    return _Run(pid, fds[2])


def _reap(wanted, flags, current):
    """wait4 for `wanted` (-1: any child); records the run's end when it is the one reaped.
    Returns the pid reaped, 0 if none was ready, None if there are no children left."""
    try:
        pid, status, usage = os.wait4(wanted, flags)
    except ChildProcessError:
        return None
    if pid and current is not None and pid == current.pid:
        current.ended = (status, usage)
    return pid


def _end_run(current, isolation):
    """Kill the run and every process it left, reap them, then report how the run ended.

    With namespaces this process is the init of the pid namespace that holds the runs' and
    only the runs' processes (runs never overlap), so that is everything but itself. Without,
    it is the run's process group (the caller sweeps processes that left it)."""
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(current.pidfd, signal.SIGKILL)
    if isolation == "process":
        with contextlib.suppress(OSError):
            os.killpg(current.pid, signal.SIGKILL)  # the unreaped run still holds the pgid
        if current.ended is None:
            _reap(current.pid, 0, current)
    else:
        if os.getpid() != 1:
            raise SetupError("not the init of the runs' pid namespace; refusing to kill(-1)")
        while True:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)  # every process of this namespace but its init
            if _reap(-1, 0, current) is None:
                break
    os.close(current.pidfd)
    status, usage = current.ended or (None, None)
    report = {"cpu_s": 0.0, "code": None, "signal": None}
    if usage is not None:
        report["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 6)
        if os.WIFSIGNALED(status):
            report["signal"] = os.WTERMSIG(status)
        else:
            report["code"] = os.WEXITSTATUS(status)
    with contextlib.suppress(OSError):  # never block on a reader that went away
        os.set_blocking(current.stderr, False)
        os.write(current.stderr, ("\n" + json.dumps({"exit": report}) + "\n").encode())
    os.close(current.stderr)


def _serve_runs(sock, isolation):
    """Fork one run per request, one at a time, and end each (`_end_run`) once its process
    exits, or when the next request or the end of the socket comes first. As the init of the
    runs' pid namespace, also reap orphaned run processes as they end."""
    import select
    import socket

    current = None
    while True:
        waiting = [sock] if current is None else [sock, current.pidfd]
        poll = 0.05 if current is not None and isolation != "process" else None
        ready = select.select(waiting, [], [], poll)[0]
        if isolation != "process":
            while _reap(-1, os.WNOHANG, current):
                pass
        if current is not None and (current.pidfd in ready or current.ended is not None):
            _end_run(current, isolation)
            current = None
        if sock not in ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(sock, 16, 3)
        except OSError:
            message, fds = b"", []
        if current is not None:  # the caller gave up on it
            _end_run(current, isolation)
            current = None
        if not message or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        current = _start_run(sock, fds)
        _line(sock, {"started": True}, [current.pidfd])


def zygote(config_text, sock_fd):
    """Prepare the shared namespaces once, then serve runs (`_serve_runs`).

    A request is a message on the socket (a SOCK_SEQPACKET) carrying three descriptors (the
    run's stdin, stdout and stderr); the reply carries a pidfd of the run, through which the
    caller can kill it. With namespaces the serving half is a forked child, the init of the
    runs' pid namespace: when it ends, the kernel kills whatever is left in there. It is not
    dumpable and ignores SIGINT, so a run (same uid in a user namespace) cannot trace it or
    interrupt it. The zygote holds no job data: a run inherits only this module."""
    import socket

    config = json.loads(config_text)
    sock = socket.socket(fileno=sock_fd)
    try:
        os.close(os.pidfd_open(os.getpid()))
        info = prepare_zygote(config)
    except BaseException as err:
        _line(sock, {"error": _describe(err)})
        return
    _warm_up()
    isolation = config["isolation"]
    if isolation != "process":
        _SCRATCH_BINDS.extend(_under_scratch(config))
        init = os.fork()
        if init:
            sock.close()
            os._exit(os.waitstatus_to_exitcode(os.waitpid(init, 0)[1]) & 0xFF)
        _, libc = _libc()
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        info["private_proc"] = _mount_proc()
    _line(sock, {"ready": info})
    _serve_runs(sock, isolation)
