"""The sandbox contract: what every sandbox must contain, whoever wrote it.

Subclass :class:`SandboxContract` and supply two fixtures: ``provider`` (the sandbox, ready to
run ``python3``) and ``leftovers`` (a callable returning what of past runs is still there:
processes, containers…; it must return an empty list when nothing is). Every test is an
attack a learner could submit; each must be contained, reported as the right limit, and leave
nothing running.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ..capabilities import LimitHit, Sandbox, SandboxLimits, SandboxResult, SandboxRun
from ..capabilities.sandbox import WORKDIR

__all__ = ["SandboxContract"]

QUICK = SandboxLimits(cpu_s=2, wall_s=5, memory_mb=128, processes=32, output_bytes=100_000,
                      disk_mb=16)


def python(code: str, limits: SandboxLimits = QUICK, **extra) -> SandboxRun:
    return SandboxRun(command=("python3", "main.py"), files={"main.py": code.encode()},
                      limits=limits, label="contract", **extra)


class SandboxContract:
    interface = Sandbox

    @pytest.fixture(autouse=True)
    def _nothing_left_running(self, leftovers):
        yield
        deadline = time.monotonic() + 5  # an engine may take a moment to remove a container
        while leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leftovers() == [], "a sandbox run left something running"

    # -- the ordinary run ---------------------------------------------------------------------

    def test_is_a_named_sandbox(self, provider):
        assert isinstance(provider, self.interface)
        assert provider.name and provider.name.strip() == provider.name
        provider.check()

    def test_runs_the_command_with_its_files_and_stdin(self, provider):
        result = provider.run(SandboxRun(
            command=("python3", "main.py", "arg"),
            files={"main.py": b"import os, sys\nprint(os.getcwd(), sys.argv[1], input())\n"
                              b"print(open('data/in.txt').read(), file=sys.stderr)\n",
                   "data/in.txt": b"hello"},
            stdin=b"typed\n", limits=QUICK))
        assert isinstance(result, SandboxResult)
        assert result.ok, result
        assert result.stdout.decode().split() == [WORKDIR, "arg", "typed"]
        assert result.stderr.decode().strip() == "hello"
        assert result.limit is None and result.wall_s > 0

    def test_reports_the_exit_code(self, provider):
        result = provider.run(python("raise SystemExit(3)"))
        assert result.exit_code == 3 and result.limit is None and not result.ok

    def test_runs_unprivileged(self, provider):
        result = provider.run(python(
            "import os\nprint(os.geteuid())\ntry:\n    os.setuid(0)\nexcept OSError:\n"
            "    print('refused')\n"))
        uid, refused = result.stdout.decode().split()
        assert int(uid) != 0 and refused == "refused"

    def test_concurrent_runs_do_not_mix(self, provider):
        results: dict[int, SandboxResult] = {}

        def one(n: int) -> None:
            results[n] = provider.run(python(
                f"import time, os\nopen('/tmp/mine', 'w').write('{n}')\ntime.sleep(0.3)\n"
                "print(open('/tmp/mine').read(), os.listdir('/tmp/work'))"))

        threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [0, 1, 2]  # a run that raised left no result
        for n, result in results.items():
            assert result.ok, result
            assert result.stdout.decode().startswith(f"{n} ")

    def test_many_short_runs_at_once_all_succeed(self, provider):
        """Runs that start and end at the same moments: the sandbox's own resources (file
        descriptors, slots, containers) are handed out and returned without a mix-up."""
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda n: provider.run(python(f"print({n})")), range(12)))
        for n, result in enumerate(results):
            assert (result.ok, result.stdout.decode().strip()) == (True, str(n)), result

    # -- attacks --------------------------------------------------------------------------------

    @staticmethod
    def stopped_in_time(result: SandboxResult, limits: SandboxLimits, started: float) -> bool:
        """Stopped soon after its limit, by the run's own clock (from when the code could
        start, to after it was killed and reaped), and by ours, which also counts the time a
        busy engine takes to make a container: only a hang exceeds that one."""
        return (result.wall_s < limits.wall_s + 5
                and time.monotonic() - started < limits.wall_s + 60)

    def test_endless_loop_is_stopped(self, provider):
        limits = SandboxLimits(cpu_s=1, wall_s=4, output_bytes=10_000)
        started = time.monotonic()
        result = provider.run(python("while True:\n    pass\n", limits))
        assert result.limit in (LimitHit.CPU, LimitHit.WALL)
        assert self.stopped_in_time(result, limits, started), result
        assert not result.ok

    def test_sleeping_forever_hits_the_wall_clock_limit(self, provider):
        limits = SandboxLimits(cpu_s=5, wall_s=1, output_bytes=10_000)
        started = time.monotonic()
        result = provider.run(python("import time\ntime.sleep(600)\n", limits))
        assert result.limit == LimitHit.WALL
        assert self.stopped_in_time(result, limits, started), result

    def test_fork_bomb_is_refused(self, provider):
        limits = SandboxLimits(cpu_s=3, wall_s=5, processes=24, output_bytes=100_000)
        result = provider.run(python(
            "import os, sys\nsys.stderr = open(os.devnull, 'w')\nfailed = 0\n"
            "for _ in range(10_000):\n"
            "    try:\n        os.fork()\n"
            "    except OSError:\n        failed += 1\n"
            "        if failed > 50:\n            sys.__stderr__.write("
            "'BlockingIOError: Resource temporarily unavailable\\n'); os._exit(1)\n", limits))
        assert result.limit in (LimitHit.PROCESSES, LimitHit.WALL, LimitHit.CPU, LimitHit.MEMORY)
        assert not result.ok

    def test_memory_hog_is_stopped(self, provider):
        limits = SandboxLimits(cpu_s=5, wall_s=8, memory_mb=64, output_bytes=10_000)
        result = provider.run(python("blocks = []\nwhile True:\n"
                                     "    blocks.append(bytearray(8 * 2**20))\n", limits))
        assert result.limit == LimitHit.MEMORY
        assert not result.ok

    def test_huge_output_is_cut_and_stopped(self, provider):
        limits = SandboxLimits(cpu_s=5, wall_s=8, output_bytes=50_000)
        result = provider.run(python("while True:\n    print('x' * 10_000)\n", limits))
        assert result.limit == LimitHit.OUTPUT and result.output_truncated
        assert len(result.stdout) + len(result.stderr) <= limits.output_bytes

    def test_only_tmp_is_writable(self, provider):
        result = provider.run(python(
            "import os\nfor path in ('/usr/x', '/etc/x', '/x', '/root/x', '/home/x', '/bin/x',"
            " '/opt/x', '/proc/x'):\n"
            "    try:\n        open(path, 'w').write('pwned')\n        print('WROTE', path)\n"
            "    except OSError:\n        pass\n"
            "open('/tmp/ok', 'w').write('fine')\nprint('tmp ok')\n"))
        assert "WROTE" not in result.stdout.decode(), result.stdout
        assert "tmp ok" in result.stdout.decode(), result

    def test_disk_is_limited(self, provider):
        limits = SandboxLimits(cpu_s=5, wall_s=8, disk_mb=8, output_bytes=10_000)
        result = provider.run(python(
            "chunk = b'x' * 2**20\nwith open('/tmp/big', 'wb') as f:\n"
            "    for _ in range(64):\n        f.write(chunk)\n        f.flush()\n", limits))
        assert not result.ok
        assert result.limit in (LimitHit.DISK, LimitHit.OUTPUT)

    def test_no_network_even_to_this_host(self, provider):
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        accepted: list[object] = []
        server.settimeout(0.2)

        def serve() -> None:
            end = time.monotonic() + 8
            while time.monotonic() < end and not accepted:
                try:
                    accepted.append(server.accept())
                except TimeoutError:
                    continue
                except OSError:
                    return

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            result = provider.run(python(
                "import socket\n"
                "for host in ('127.0.0.1', 'localhost'):\n"
                "    try:\n"
                f"        socket.create_connection((host, {port}), timeout=2)\n"
                "        print('CONNECTED', host)\n"
                "    except OSError as exc:\n        print('refused', host, exc)\n"))
        finally:
            server.close()
            thread.join()
        assert "CONNECTED" not in result.stdout.decode(), result.stdout
        assert not accepted

    def test_runs_cannot_see_each_other_or_the_host(self, provider, tmp_path):
        other = tmp_path / "other-learner"
        other.mkdir()
        (other / "solution.py").write_text("SECRET = 42")
        os.chmod(tmp_path, 0o755)
        os.chmod(other, 0o755)
        os.chmod(other / "solution.py", 0o644)
        first = provider.run(python("open('/tmp/secret.txt', 'w').write('learner A')\n"
                                    "print('saved')"))
        assert first.ok, first
        second = provider.run(python(
            "import os\n"
            f"for path in ('/tmp/secret.txt', '{other}/solution.py', '/etc/shadow'):\n"
            "    try:\n        print('READ', path, open(path).read()[:20])\n"
            "    except OSError:\n        pass\n"
            "print(sorted(os.listdir('/tmp')))\n"))
        assert "READ" not in second.stdout.decode(), second.stdout
        assert "learner A" not in second.stdout.decode()

