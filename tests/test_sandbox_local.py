"""The ``local`` sandbox (bubblewrap + rlimits) against the sandbox contract: every attack
contained, reported, and nothing left running."""

import os
import shutil
from pathlib import Path

import pytest

from lmscore.capabilities import SandboxError, SandboxRun
from lmscore.config import load_settings
from lmscore.defaults.sandbox_local import LocalSandbox, become_subreaper, reap_orphans
from lmscore.testing.contracts import SandboxContract

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is installed by scripts/test.sh")


def local_settings(**local):
    return load_settings(overrides={"secret_key": "x" * 32, "code_grading": {"local": local}},
                         environ={}).code_grading.local


def _parents() -> dict[int, tuple[int, str, str, int]]:
    """pid → (parent pid, name, state, uid) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                uid = entry.stat().st_uid
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
            found[int(entry.name)] = (int(rest.split()[1]), name, rest.split()[0], uid)
    return found


def sandbox_processes(first_uid: int, slots: int) -> list[str]:
    """This test process's descendants running as a sandbox uid (or as us when not root),
    and exited bwraps nobody has reaped. Other processes' sandboxes (a parallel test pass)
    are not ours to judge."""
    table = _parents()
    me = os.getpid()

    def descends(pid: int) -> bool:
        seen = set()
        while pid in table and pid not in seen:
            seen.add(pid)
            pid = table[pid][0]
            if pid == me:
                return True
        return False

    found = []
    for pid, (ppid, name, state, uid) in table.items():
        sandboxed = first_uid <= uid < first_uid + slots if os.geteuid() == 0 else True
        if (descends(pid) and sandboxed and name != "pytest") or (
                name == "bwrap" and state == "Z" and ppid == me):
            found.append(f"{pid} {name} {state} uid={uid}")
    return found


class TestLocalSandbox(SandboxContract):
    @pytest.fixture
    def provider(self):
        return LocalSandbox(local_settings())

    @pytest.fixture
    def leftovers(self, provider):
        return lambda: sandbox_processes(provider.settings.uid, provider.settings.slots)


def test_missing_bubblewrap_is_a_clear_error():
    sandbox = LocalSandbox(local_settings(bwrap="/nonexistent/bwrap"))
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        sandbox.run(SandboxRun(command=("true",)))


@pytest.mark.skipif(os.geteuid() != 0, reason="uid slots are used when running as root")
def test_each_concurrent_run_has_its_own_uid():
    sandbox = LocalSandbox(local_settings(uid=62100, slots=2))
    with sandbox.slots.claim() as held:
        result = sandbox.run(SandboxRun(command=("python3", "-c", "import os; print(os.getuid())")))
    assert held == 62100
    assert int(result.stdout) == 62101


def test_orphaned_sandbox_inits_are_reaped():
    """A killed run's namespace init is re-parented to us (subreaper) and reaped at once."""
    become_subreaper()
    sandbox = LocalSandbox(local_settings())
    from lmscore.capabilities import SandboxLimits
    sandbox.run(SandboxRun(command=("sleep", "60"), limits=SandboxLimits(wall_s=0.5)))
    reap_orphans()
    assert sandbox_processes(sandbox.settings.uid, sandbox.settings.slots) == []
