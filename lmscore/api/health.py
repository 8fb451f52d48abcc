"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

bp = Blueprint("health", __name__, url_prefix="/health")
log = logging.getLogger(__name__)


@bp.get("/live")
def live():
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready():
    lms = current_app.extensions["lmscore"]

    def database() -> None:
        try:
            lms.db.session.execute(text("SELECT 1"))
        finally:
            lms.db.remove()

    checks = {"database": _check("database", database), "broker": _check("broker", lms.jobs.ping)}
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503


def _check(name: str, probe: Callable[[], None]) -> str:
    """"ok", or the error's type: the probe is public, the details go to the log."""
    try:
        probe()
    except Exception as exc:  # report, do not crash: this is what the probe is for
        log.warning("readiness check %s failed: %s", name, exc)
        return f"error: {type(exc).__name__}"
    return "ok"
