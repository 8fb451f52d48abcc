"""REST API under /api/v1/adaptive."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from lmscore import current_platform
from lmscore.api import Text, auth_required, current_user
from lmscore.capabilities import Answer
from lmscore.db import utcnow
from lmscore.models import Track

from . import diagnostic, evidence, paths, reports

blp = Blueprint("adaptive", __name__, url_prefix="/api/v1/adaptive",
                description="Adaptive learning: placement, mastery, paths, calibration")


class DiagnosticStartSchema(Schema):
    track = Text(required=True, validate=validate.Length(min=1, max=16))


class DiagnosticAnswerSchema(Schema):
    selected = fields.List(Text(validate=validate.Length(max=10)),
                           validate=validate.Length(max=10))
    text = Text(validate=validate.Length(max=10_000))
    value = fields.Float(allow_nan=False)


class UnlockDecisionSchema(Schema):
    approve = fields.Boolean(required=True)


def _diagnostic(session, d) -> dict:
    item = diagnostic.current_item(session, d)
    return {
        "id": d.id, "track": session.get(Track, d.track_id).code, "status": d.status,
        "asked": len(d.asked), "results": d.results,
        "question": None if item is None else {
            "item_id": item.id, "type": item.type, "prompt": item.prompt,
            "options": item.options},
        "answers": [{"topic": a["topic"], "level": a["level"], "correct": a["correct"]}
                    for a in d.asked],
    }


@blp.post("/diagnostics")
@blp.arguments(DiagnosticStartSchema)
@blp.response(201)
@auth_required
def start(data):
    lms = current_platform()
    d = diagnostic.start(lms, lms.db.session, current_user(), data["track"])
    return _diagnostic(lms.db.session, d)


@blp.get("/diagnostics/<int:diagnostic_id>")
@blp.response(200)
@auth_required
def show(diagnostic_id):
    session = current_platform().db.session
    return _diagnostic(session, diagnostic.get(session, current_user(), diagnostic_id))


@blp.post("/diagnostics/<int:diagnostic_id>/answer")
@blp.arguments(DiagnosticAnswerSchema)
@blp.response(200)
@auth_required
def answer(data, diagnostic_id):
    lms = current_platform()
    given = Answer(selected=tuple(data.get("selected", ())), text=data.get("text"),
                   value=data.get("value"))
    d = diagnostic.answer(lms, lms.db.session, current_user(), diagnostic_id, given, utcnow())
    return _diagnostic(lms.db.session, d)


@blp.get("/mastery/me")
@blp.response(200)
@auth_required
def mastery():
    session = current_platform().db.session
    return {"facets": [{"facet": m.facet, "bank": m.bank, "mastery": round(m.p_mastery, 4),
                        "answers": m.observations, "right": m.correct}
                       for m in evidence.facet_mastery(session, current_user().id)]}


@blp.get("/paths/me")
@blp.response(200)
@auth_required
def path_history():
    session = current_platform().db.session
    return {"snapshots": [{"week_start": s.week_start.isoformat(), "metrics": s.metrics,
                           "plan": s.plan, "adjustments": s.adjustments}
                          for s in paths.history(session, current_user().id)]}


@blp.get("/struggling")
@blp.response(200)
@auth_required
def struggling():
    lms = current_platform()
    rows = reports.struggling(lms.db.session, current_user(), lms.plugin_config("adaptive"),
                              utcnow())
    return {"learners": [{"user_id": r.learner.id, "name": r.learner.name,
                          "signals": r.signals, "evidence": r.evidence} for r in rows]}


@blp.get("/items/calibration")
@blp.response(200)
@auth_required
def calibration():
    lms = current_platform()
    rows = reports.item_calibration(lms.db.session, current_user(),
                                    lms.plugin_config("adaptive"))
    return {"items": [{**r.__dict__, "flags": list(r.flags)} for r in rows]}


@blp.get("/unlocks")
@blp.response(200)
@auth_required
def unlocks():
    session = current_platform().db.session
    return {"unlocks": [{"id": u.id, "user_id": u.user_id, "project_id": u.project_id,
                         "status": u.status, "evidence": u.evidence}
                        for u in diagnostic.unlocks_to_decide(session, current_user())]}


@blp.post("/unlocks/<int:unlock_id>/decision")
@blp.arguments(UnlockDecisionSchema)
@blp.response(200)
@auth_required
def decide(data, unlock_id):
    session = current_platform().db.session
    u = diagnostic.decide(session, current_user(), unlock_id, data["approve"], utcnow())
    return {"id": u.id, "status": u.status}
