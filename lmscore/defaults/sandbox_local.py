"""``local``: the default sandbox, on this machine, without any daemon.

Each run is one ``bwrap`` (bubblewrap) process tree: every namespace unshared (so no network
but its own loopback, its own PIDs, no view of other processes), all capabilities dropped, the
host's ``/usr`` read-only, a size-limited tmpfs ``/tmp`` as the only writable place, and the
run's files copied into it from memory. ``prlimit`` sets the CPU, address-space, process,
file-size and open-file limits before bwrap starts, as an unprivileged user: as root each
concurrent run drops to its own uid from ``[code_grading.local]``, so one run's processes never
count against another's process limit. The whole process group is killed on the wall-clock
limit or when the output limit is reached; with the PID namespace, killing bwrap kills
everything inside it.

The grading process is made a *child subreaper*: the namespace's init, orphaned when bwrap is
killed, is re-parented to us instead of the machine's PID 1 (which reaps slowly here) and is
reaped after each run, so no zombie keeps counting against a uid's process limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..capabilities import LimitHit, Sandbox, SandboxError, SandboxResult, SandboxRun
from ..capabilities.sandbox import WORKDIR, refused_limit
from ..config import LocalSandboxSettings
from ..hookspecs import hookimpl

PR_SET_CHILD_SUBREAPER = 36
#: Where learners' code finds the host's Python packages (pytest), read-only.
PYTHON_PATH_MOUNT = "/opt/lms-python"
MISSING_BWRAP = (
    "the local sandbox needs bubblewrap: install the Debian package `bubblewrap` "
    "(apt-get install bubblewrap) or set [code_grading.local] bwrap to its path"
)

_live_pids: set[int] = set()
_live_lock = threading.Lock()
_subreaper_set = False


def become_subreaper() -> None:
    """Adopt orphaned descendants (once per process) so :func:`reap_orphans` can reap them."""
    global _subreaper_set
    if _subreaper_set:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SandboxError(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    _subreaper_set = True


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def reap_orphans() -> int:
    """Reap adopted bwrap processes that have exited, leaving alone every child someone is
    still waiting for (ours in flight, or any other code's). Returns how many were reaped."""
    reaped = 0
    for pid in _children():
        with _live_lock:
            if pid in _live_pids:
                continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
        if name == "bwrap" and state == "Z":
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    reaped += 1
    return reaped


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += 1
    return count


class _UidSlots:
    """As root: one uid per concurrent run, claimed with a file lock (shared by every worker
    process on the machine). Not root: the current uid, as the only choice."""

    def __init__(self, settings: LocalSandboxSettings):
        self.first, self.count = settings.uid, settings.slots
        self.lock_dir = Path(tempfile.gettempdir()) / "lmscore-sandbox-slots"

    @contextlib.contextmanager
    def claim(self) -> Iterator[int | None]:
        if os.geteuid() != 0:
            yield None
            return
        self.lock_dir.mkdir(mode=0o700, exist_ok=True)
        deadline = time.monotonic() + 60
        while True:
            for uid in range(self.first, self.first + self.count):
                handle = open(self.lock_dir / f"{uid}.lock", "w")  # noqa: SIM115
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                try:
                    yield uid
                finally:
                    handle.close()
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"all {self.count} local sandbox slots stayed busy for 60 s")
            time.sleep(0.02)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


#: pytest and what it imports: all the sandbox needs from the host's packages.
PYTEST_MODULES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py")


def pytest_mounts() -> dict[str, str]:
    """Host path → name under :data:`PYTHON_PATH_MOUNT` for pytest and its dependencies as
    installed here, so instructor tests run with the same pytest inside the sandbox. Only
    these, not the whole environment: fewer files to search on every import."""
    import importlib.util

    mounts = {}
    for module in PYTEST_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        path = Path(spec.origin)
        if path.name == "__init__.py":
            path = path.parent
        mounts[str(path)] = path.name
    return mounts


class LocalSandbox(Sandbox):
    name = "local"
    label = "bubblewrap on this machine"

    def __init__(self, settings: LocalSandboxSettings):
        self.settings = settings
        self.slots = _UidSlots(settings)
        path = settings.python_path
        if path == "auto":
            self.python_mounts = pytest_mounts()
        else:
            self.python_mounts = {path: ""} if path else {}

    def check(self) -> None:
        if shutil.which(self.settings.bwrap) is None:
            raise SandboxError(MISSING_BWRAP)
        if shutil.which("prlimit") is None:
            raise SandboxError("the local sandbox needs prlimit (Debian package util-linux)")

    def _bwrap_args(self, run: SandboxRun, file_fds: list[tuple[int, str]],
                    info_fd: int) -> list[str]:
        limits = run.limits
        args = [
            shutil.which(self.settings.bwrap) or self.settings.bwrap,
            "--info-fd", str(info_fd), "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
        ]
        if Path("/usr/lib64").is_dir():
            args += ["--symlink", "usr/lib64", "/lib64"]
        args += [
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/tmp",
            "--dir", WORKDIR,
        ]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "USER": "sandbox",
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2"}
        for host_path, name in self.python_mounts.items():
            args += ["--ro-bind", host_path, f"{PYTHON_PATH_MOUNT}/{name}".rstrip("/")]
        if self.python_mounts:
            env["PYTHONPATH"] = PYTHON_PATH_MOUNT
        env.update(run.env)
        made = {WORKDIR}
        for fd, rel in file_fds:
            target = f"{WORKDIR}/{os.path.normpath(rel)}"
            parent = os.path.dirname(target)
            parents = []
            while parent not in made:
                parents.append(parent)
                made.add(parent)
                parent = os.path.dirname(parent)
            for directory in reversed(parents):
                args += ["--dir", directory]
            args += ["--file", str(fd), target]
        # bwrap builds the root on a tmpfs: make it read-only, /tmp stays the one writable place.
        args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", *run.command]

    def _prlimit_args(self, run: SandboxRun, uid: int | None) -> list[str]:
        limits = run.limits
        cpu = max(1, round(limits.cpu_s))
        processes = limits.processes
        if uid is None:  # sharing our own uid: the limit counts every process it already has
            processes += _processes_of(os.getuid())
        file_size = limits.disk_mb * 2**20
        return [
            shutil.which("prlimit") or "prlimit",
            f"--cpu={cpu}:{cpu + 1}",
            f"--as={limits.memory_mb * 2**20}",
            f"--nproc={processes}",
            f"--fsize={file_size}",
            "--nofile=256",
            "--core=0",
            "--",
        ]

    def run(self, request: SandboxRun) -> SandboxResult:
        self.check()
        become_subreaper()
        fds = [(_memfd(f"sandbox-file-{n}", data), path)
               for n, (path, data) in enumerate(request.files.items())]
        stdin_fd = _memfd("sandbox-stdin", request.stdin)
        info_read, info_write = os.pipe()
        # Our copy of the info pipe's write end is closed once bwrap has it (EOF comes when
        # bwrap closes its own), or here if bwrap never started; exactly once either way, as
        # another thread may reuse the fd number the moment it is closed.
        close_after_spawn = [info_write]
        try:
            with self.slots.claim() as uid:
                command = (self._prlimit_args(request, uid)
                           + self._bwrap_args(request, fds, info_write))
                return self._execute(command, request, stdin_fd,
                                     [info_write, *(fd for fd, _ in fds)], info_read, uid,
                                     close_after_spawn)
        finally:
            for fd in (stdin_fd, info_read, *(fd for fd, _ in fds), *close_after_spawn):
                os.close(fd)
            reap_orphans()

    def _execute(self, command: list[str], request: SandboxRun, stdin_fd: int,
                 pass_fds: list[int], info_fd: int, uid: int | None,
                 close_after_spawn: list[int]) -> SandboxResult:
        limits = request.limits
        drop = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        started = time.monotonic()
        with _live_lock:  # registered before it can exit, so reap_orphans never takes it
            proc = subprocess.Popen(
                command, stdin=stdin_fd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=pass_fds, cwd="/", env={}, start_new_session=True, **drop,
            )
            _live_pids.add(proc.pid)
        while close_after_spawn:
            os.close(close_after_spawn.pop())
        init_pid = None
        try:
            out, err, limit, init_pid = self._collect(
                proc, info_fd, limits.output_bytes, started + limits.wall_s)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            if init_pid is not None:
                # Unprivileged bwrap exits without waiting for the namespace's init: it is
                # ours now (subreaper), and its usage holds the command's CPU time.
                with contextlib.suppress(ChildProcessError):
                    _, _, usage = os.wait4(init_pid, 0)
                    cpu += usage.ru_utime + usage.ru_stime
        finally:
            with _live_lock:
                _live_pids.difference_update({proc.pid, init_pid})
        wall = time.monotonic() - started
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        stderr = bytes(err)
        if init_pid is None and code != 0 and limit is None:
            # bwrap failed before the sandbox existed (e.g. no user namespaces): the site's
            # problem, not the code's.
            detail = stderr[:500].decode(errors="replace").strip()
            raise SandboxError(f"bubblewrap could not start a sandbox: {detail}")
        if limit is None:
            if code == 128 + signal.SIGXCPU or (code == 128 + signal.SIGKILL
                                                and cpu >= limits.cpu_s * 0.9):
                limit = LimitHit.CPU
            elif code:
                limit = refused_limit(stderr)
        return SandboxResult(
            exit_code=code, stdout=bytes(out), stderr=stderr, wall_s=round(wall, 4),
            cpu_s=round(cpu, 4), limit=limit, output_truncated=limit == LimitHit.OUTPUT,
        )

    @staticmethod
    def _collect(proc: subprocess.Popen, info_fd: int, budget: int, deadline: float
                 ) -> tuple[bytearray, bytearray, LimitHit | None, int | None]:
        """Read stdout and stderr until the process has exited and both streams are closed,
        the output budget is spent or the deadline passes; in the last two cases kill the
        whole process group. Nothing is reaped here. Also returns the host pid of the
        namespace's init, which bwrap reports on its info pipe."""
        buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
        limit: LimitHit | None = None
        info = bytearray()
        init_pid = None
        exited = os.pidfd_open(proc.pid)
        with selectors.DefaultSelector() as selector:
            for stream in buffers:
                selector.register(stream, selectors.EVENT_READ)
            selector.register(exited, selectors.EVENT_READ)
            selector.register(info_fd, selectors.EVENT_READ)
            while selector.get_map() and limit is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    limit = LimitHit.WALL
                    break
                for key, _ in selector.select(timeout=remaining):
                    if key.fileobj == exited:
                        selector.unregister(exited)
                        continue
                    if key.fileobj == info_fd:
                        chunk = os.read(info_fd, 4096)
                        info += chunk
                        if not chunk:
                            selector.unregister(info_fd)
                            init_pid = _child_pid(info)
                            if init_pid is not None:
                                with _live_lock:
                                    _live_pids.add(init_pid)
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    used = sum(len(b) for b in buffers.values())
                    buffers[key.fileobj] += chunk[:max(0, budget - used)]
                    if used + len(chunk) > budget:
                        limit = LimitHit.OUTPUT
                        break
        os.close(exited)
        if limit is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for stream in buffers:
            stream.close()
        return buffers[proc.stdout], buffers[proc.stderr], limit, init_pid


def _child_pid(info: bytes) -> int | None:
    try:
        return int(json.loads(info)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


@hookimpl
def lms_register_sandboxes(lms):
    return [LocalSandbox(lms.settings.code_grading.local)]
