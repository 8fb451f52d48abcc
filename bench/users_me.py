"""Requests per second of ``GET /api/v1/users/me`` (authenticated) with every installed plugin
enabled versus none, in the same run, against a real waitress server on 127.0.0.1.

Goal: with all plugins within 5 % of none. Prints figures only (never asserts). Each variant
gets its own SQLite database and server process; the load is a fixed number of client threads
on keep-alive connections for a fixed time, measured twice per variant in alternation so a
slow moment of the machine does not favour one side.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _harness as h

THREADS = 8
SECONDS = 4.0
ROUNDS = 3
#: A tiny run for `bench/run.py --smoke`.
SMOKE_ARGS = ["--seconds", "0.5"]


def serve(config_path: str, port: int) -> None:
    """Server side (run in a subprocess): migrate, create a user, print a token, serve."""
    os.environ["LMS_CONFIG"] = config_path
    import logging

    from waitress import serve as waitress_serve

    from lmscore.app import create_app
    from lmscore.migrations import upgrade
    from lmscore.models import User
    from lmscore.services.auth import make_access_token

    app = create_app()
    lms = app.extensions["lmscore"]
    with app.app_context():
        upgrade(lms)
        user = User(email="bench@example.org", name="Bench", role="student", password_hash="-")
        lms.db.session.add(user)
        lms.db.session.commit()
        print(json.dumps({"token": make_access_token(lms, user),
                          "plugins": lms.plugins.enabled}), flush=True)
    # The load keeps every thread busy by design: queue-depth warnings would only be noise.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress_serve(app, host="127.0.0.1", port=port, threads=THREADS, _quiet=True)


def start_server(workdir: Path, plugins: list[str]) -> tuple[subprocess.Popen, int, str, list]:
    config = workdir / "lms.toml"
    config.write_text(
        f'secret_key = "bench-secret-key-0123456789abcdef0123456789"\n'
        f'[database]\nurl = "sqlite:///{workdir / "lms.db"}"\n'
        f'[email]\nbackend = "file"\nfile_dir = "{workdir / "mail"}"\n'
        f'[auth]\nip_rate_limit = "1000000 per minute"\n'
        + h.plugins_toml(plugins),
        encoding="utf-8",
    )
    port = h.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(config), str(port)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=workdir,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        raise RuntimeError(f"server with plugins {plugins} failed to start")
    info = json.loads(line)
    h.wait_for_port(port, process, timeout=30)
    return process, port, info["token"], info["plugins"]


def load(port: int, token: str, seconds: float) -> float:
    """Requests per second over ``seconds`` with THREADS keep-alive clients."""
    stop = time.monotonic() + seconds
    counts = [0] * THREADS
    errors: list[str] = []

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < stop:
            conn.request("GET", "/api/v1/users/me", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(str(response.status))
                return
            counts[slot] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"GET /api/v1/users/me answered {errors[0]}")
    return sum(counts) / (time.monotonic() - started)


def main(seconds: float) -> dict:
    variants = {"none": [], "all": h.startable_plugins()}
    servers = {}
    with tempfile.TemporaryDirectory(prefix="lms-bench-") as tmp:
        try:
            for name, plugins in variants.items():
                workdir = Path(tmp) / name
                workdir.mkdir()
                servers[name] = start_server(workdir, plugins)
            for _process, port, token, _plugins in servers.values():
                load(port, token, 1.0)  # warm-up: imports, first queries, connection pools
            rates: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(ROUNDS):
                for name, (_process, port, token, _plugins) in servers.items():
                    rates[name].append(load(port, token, seconds))
        finally:
            for process, *_ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    best = {name: max(values) for name, values in rates.items()}
    change = (best["all"] - best["none"]) / best["none"] * 100
    print(f"GET /api/v1/users/me, {THREADS} threads, {ROUNDS}×{seconds:g}s per variant")
    print(f"  no plugins enabled        {best['none']:9.1f} req/s")
    print(f"  all installed enabled     {best['all']:9.1f} req/s   "
          f"({', '.join(servers['all'][3]) or 'none installed'})")
    print(f"  difference                {change:+9.1f} %      goal: within 5 %")
    return {"none_rps": best["none"], "all_rps": best["all"], "change_percent": change,
            "plugins": servers["all"][3], "threads": THREADS, "seconds": seconds,
            "table": [{"scenario": "users_me", "unit": "req/s",
                       "measure": "GET /users/me, every plugin (waitress, SQLite)",
                       "rate_per_s": round(best["all"], 1),
                       "baseline": {"measure": "no plugin enabled",
                                    "rate_per_s": round(best["none"], 1)}}]}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--seconds", type=float, default=SECONDS)
        parser.add_argument("--json", metavar="FILE", help="also write the figures here")
        args = parser.parse_args()
        result = main(args.seconds)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
