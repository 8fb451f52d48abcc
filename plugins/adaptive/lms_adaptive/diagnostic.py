"""Placement diagnostic: a short adaptive test over a track's question bank.

Per topic (the first level of the bank's hierarchy) the learner climbs a 1–10 ladder: start
at 5, one level step up after a right answer and down after a wrong one, the step shrinking
from 3 to 1 so the test homes in. Each question is the unasked item whose difficulty is
nearest the current level (calibrated IRT difficulty where the item has one, else its authored
1–5 difficulty). Topics take turns, ``diagnostic_questions_per_topic`` each, at most
``diagnostic_max_questions`` in all. The skill per topic is the learner's IRT ability from
their answers (EAP), mapped to 1–10.

A locked project is ready to unlock when every prerequisite project covers a diagnosed topic
(a topic named in its tech stack or slug) and each such topic's skill reaches
``unlock_skill``; the unlock is approved at once or waits for a trainer (``unlock``). An
approved unlock becomes the core's prerequisite waiver (source ``adaptive``), which is what
actually opens the project; it never marks the prerequisites completed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lmscore.capabilities import Answer, GradableItem
from lmscore.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from lmscore.models import BankNode, Item, Project, QuestionBank, Role, Track, User
from lmscore.services import learning
from lmscore.services.audit import REASON_MAX
from lmscore.services.permissions import Action, can, require

from . import irt
from .models import Diagnostic, ItemParameters, Observation, Unlock

AUTO_GRADED = ("mcq_single", "mcq_multi", "short_answer", "numeric")
SOURCE = "adaptive"  # the plugin id: the source of the waivers its unlocks grant
MAX_QUESTIONS_PER_DIAGNOSTIC = 99  # source_id = diagnostic id × 100 + question number


def level_to_difficulty(level: float) -> float:
    """Ladder level 1–10 → IRT difficulty −3 … 3."""
    return (level - 5.5) / 1.5


def skill_from_ability(theta: float) -> int:
    return int(np.clip(round(5.5 + 1.5 * theta), 1, 10))


def authored_difficulty(difficulty: int) -> float:
    """Authored difficulty 1–5 → IRT difficulty −2 … 2."""
    return float(difficulty - 3)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})


def _candidates(session: Session, track_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Item.id, Item.difficulty, BankNode.path, ItemParameters.difficulty,
               ItemParameters.discrimination)
        .join(QuestionBank, QuestionBank.id == Item.bank_id)
        .join(BankNode, BankNode.id == Item.facet_id)
        .outerjoin(ItemParameters, ItemParameters.item_id == Item.id)
        .where(QuestionBank.track_id == track_id, Item.archived_at.is_(None),
               Item.type.in_(AUTO_GRADED))
        .order_by(Item.id)
    ).all()
    return [{"item_id": item_id, "topic": path.split("/")[0],
             "b": calibrated_b if calibrated_b is not None else authored_difficulty(authored),
             "a": a if a is not None else 1.0}
            for item_id, authored, path, calibrated_b, a in rows]


def latest(session: Session, user: User, track_id: int) -> Diagnostic | None:
    return session.scalar(select(Diagnostic).where(
        Diagnostic.user_id == user.id, Diagnostic.track_id == track_id
    ).order_by(Diagnostic.id.desc()).limit(1))


def start(lms, session: Session, user: User, track_code: str) -> Diagnostic:
    """The learner's running diagnostic for the track, or a new one. Commits."""
    require(user, Action.SUBMIT_WORK)
    track = learning.get_track(session, track_code)
    learning.require_content_access(session, user, track)
    running = latest(session, user, track.id)
    if running is not None and running.status == "in_progress":
        return running
    candidates = _candidates(session, track.id)
    if not candidates:
        raise Conflict(f"{track.name} has no automatically graded questions to place you with.")
    topics = sorted({c["topic"] for c in candidates})
    diagnostic = Diagnostic(user_id=user.id, track_id=track.id,
                            ladder={t: {"level": 5, "step": 3} for t in topics}, asked=[])
    session.add(diagnostic)
    _advance(lms, session, diagnostic, candidates)
    session.commit()
    return diagnostic


def get(session: Session, user: User, diagnostic_id: int) -> Diagnostic:
    diagnostic = session.get(Diagnostic, diagnostic_id)
    if diagnostic is None or not (diagnostic.user_id == user.id or _trains(session, user,
                                                                         diagnostic.user_id)):
        raise NotFound(f"No diagnostic with id {diagnostic_id}.")
    return diagnostic


def _trains(session: Session, staff: User, learner_id: int) -> bool:
    if can(staff, Action.VIEW_ANY_USER):
        return True
    learner = session.get(User, learner_id)
    return staff.role == Role.TRAINER and learner is not None and learner.trainer_id == staff.id


def _advance(lms, session: Session, diagnostic: Diagnostic, candidates=None) -> None:
    """Pick the next question, or finish."""
    settings = lms.plugin_config("adaptive")
    candidates = candidates or _candidates(session, diagnostic.track_id)
    asked_ids = {a["item_id"] for a in diagnostic.asked}
    per_topic: dict[str, int] = {t: 0 for t in diagnostic.ladder}
    for a in diagnostic.asked:
        per_topic[a["topic"]] = per_topic.get(a["topic"], 0) + 1
    limit = min(settings["diagnostic_max_questions"], MAX_QUESTIONS_PER_DIAGNOSTIC)
    open_topics = [t for t in sorted(per_topic, key=lambda t: (per_topic[t], t))
                   if per_topic[t] < settings["diagnostic_questions_per_topic"]
                   and any(c["topic"] == t and c["item_id"] not in asked_ids for c in candidates)]
    if len(diagnostic.asked) >= limit or not open_topics:
        _finish(lms, session, diagnostic)
        return
    topic = open_topics[0]
    target = level_to_difficulty(diagnostic.ladder[topic]["level"])
    choice = min((c for c in candidates if c["topic"] == topic and c["item_id"] not in asked_ids),
                 key=lambda c: (abs(c["b"] - target), c["item_id"]))
    diagnostic.current_item_id = choice["item_id"]


def current_item(session: Session, diagnostic: Diagnostic) -> Item | None:
    if diagnostic.current_item_id is None:
        return None
    return session.get(Item, diagnostic.current_item_id)


def answer(lms, session: Session, user: User, diagnostic_id: int, given: Answer,
           now: datetime) -> Diagnostic:
    """Grade the answer to the current question, move on the ladder, pick the next question
    (or finish). Commits."""
    diagnostic = get(session, user, diagnostic_id)
    if diagnostic.user_id != user.id:
        raise PermissionDenied("Only the learner answers their diagnostic.")
    if diagnostic.status != "in_progress":
        raise Conflict("This diagnostic is finished.")
    item = current_item(session, diagnostic)
    if item is None:
        raise Conflict("This diagnostic has no open question.")
    _check_shape(item, given)
    grader = lms.grader_for(item.type, item.grader)
    try:
        result = grader.grade(GradableItem(id=item.external_id, type=item.type,
                                           prompt=item.prompt, options=item.options,
                                           answer_key=item.answer), given)
    except ValueError as exc:
        raise _invalid("answer", str(exc)) from None
    candidates = _candidates(session, diagnostic.track_id)
    asked = next(c for c in candidates if c["item_id"] == item.id)
    rung = dict(diagnostic.ladder[asked["topic"]])
    correct = bool(result.correct)
    entry = {**asked, "level": rung["level"], "correct": correct}
    move = rung["step"] if correct else -rung["step"]
    rung["level"] = int(np.clip(rung["level"] + move, 1, 10))
    rung["step"] = max(1, rung["step"] - 1)
    # Reassign (not mutate) the JSON values so SQLAlchemy sees the change.
    diagnostic.ladder = {**diagnostic.ladder, asked["topic"]: rung}
    diagnostic.asked = [*diagnostic.asked, entry]
    session.add(Observation(user_id=user.id, item_id=item.id, facet_id=item.facet_id,
                            correct=correct, observed_at=now, source="diagnostic",
                            source_id=diagnostic.id * 100 + len(diagnostic.asked)))
    _advance(lms, session, diagnostic, candidates)
    if diagnostic.status == "finished":
        diagnostic.finished_at = now
    session.commit()
    return diagnostic


def _check_shape(item: Item, given: Answer) -> None:
    """An empty answer is refused, not graded wrong: it is a slip, not a sign of skill."""
    if item.type in ("mcq_single", "mcq_multi"):
        if not given.selected:
            raise _invalid("answer", "Choose an option.")
        if any(key not in item.options for key in given.selected):
            raise _invalid("answer", "Choose one of the question's options.")
    elif item.type == "numeric":
        if given.value is None:
            raise _invalid("answer", "Enter a number.")
    elif not (given.text or "").strip():
        raise _invalid("answer", "Write an answer.")


def _finish(lms, session: Session, diagnostic: Diagnostic) -> None:
    diagnostic.status = "finished"
    diagnostic.current_item_id = None
    results = {}
    for topic in sorted(diagnostic.ladder):
        answers = [a for a in diagnostic.asked if a["topic"] == topic]
        if not answers:
            continue
        theta = irt.ability(np.array([a["a"] for a in answers]),
                            np.array([a["b"] for a in answers]),
                            np.array([a["correct"] for a in answers]))
        results[topic] = {"skill": skill_from_ability(theta), "ability": round(theta, 3),
                          "right": sum(a["correct"] for a in answers), "asked": len(answers)}
    diagnostic.results = results
    session.flush()
    _propose_unlocks(lms, session, diagnostic)


def covered_topics(project: Project, topics: set[str]) -> set[str]:
    words = {t.lower() for t in project.tech_stack} | set(project.slug.lower().split("-"))
    return topics & words


def _propose_unlocks(lms, session: Session, diagnostic: Diagnostic) -> None:
    settings = lms.plugin_config("adaptive")
    user = session.get(User, diagnostic.user_id)
    track = diagnostic.track_id
    skills = {t: r["skill"] for t, r in diagnostic.results.items()}
    progress = {p.project.number: p for p in learning.track_progress(
        session, user, session.get(Track, track)).projects}
    existing = set(session.scalars(select(Unlock.project_id).where(
        Unlock.user_id == user.id)))
    for number, p in sorted(progress.items()):
        if p.status != "locked" or p.project.id in existing:
            continue
        evidence: dict[str, Any] = {"threshold": settings["unlock_skill"], "prerequisites": {}}
        ready = True
        for prerequisite in p.project.prerequisites:
            before = progress.get(prerequisite)
            if before is None:
                ready = False
                break
            if before.status == "completed":
                continue
            topics = covered_topics(before.project, set(skills))
            evidence["prerequisites"][str(prerequisite)] = {t: skills[t] for t in sorted(topics)}
            if not topics or any(skills[t] < settings["unlock_skill"] for t in topics):
                ready = False
                break
        if ready and evidence["prerequisites"]:
            automatic = settings["unlock"] == "automatic"
            unlock = Unlock(user_id=user.id, project_id=p.project.id,
                            diagnostic_id=diagnostic.id,
                            status="approved" if automatic else "pending",
                            evidence={**evidence, "project": number})
            session.add(unlock)
            if automatic:
                learning.waive_prerequisites_as_system(
                    session, user, p.project, reason=unlock_reason(unlock), source=SOURCE)


def unlock_reason(unlock: Unlock) -> str:
    """What the learner reads next to the opened project, e.g. "Placement diagnostic:
    python 8/10 (project 1) — 6 needed"."""
    shown = [f"{topic} {skill}/10 (project {number})"
             for number, topics in sorted(unlock.evidence["prerequisites"].items(),
                                          key=lambda entry: int(entry[0]))
             for topic, skill in sorted(topics.items())]
    text = (f"Placement diagnostic: {', '.join(shown)} — "
            f"{unlock.evidence['threshold']} needed")
    return text[:REASON_MAX]


def unlocks_to_decide(session: Session, staff: User) -> list[Unlock]:
    require(staff, Action.REVIEW_SUBMISSIONS)
    query = select(Unlock).where(Unlock.status == "pending").order_by(Unlock.id)
    if not can(staff, Action.VIEW_ANY_USER):
        query = query.join(User, User.id == Unlock.user_id).where(User.trainer_id == staff.id)
    return list(session.scalars(query))


def decide(session: Session, staff: User, unlock_id: int, approve: bool,
           now: datetime) -> Unlock:
    """A trainer (of the learner) or an admin approves or rejects an unlock. Commits."""
    require(staff, Action.REVIEW_SUBMISSIONS)
    unlock = session.get(Unlock, unlock_id)
    if unlock is None or not _trains(session, staff, unlock.user_id):
        raise NotFound(f"No unlock with id {unlock_id}.")
    if unlock.status != "pending":
        raise Conflict(f"This unlock was already {unlock.status}.")
    unlock.status = "approved" if approve else "rejected"
    unlock.decided_by, unlock.decided_at = staff.id, now
    if approve:  # the core's waiver opens the project; it commits the decision with it
        learning.waive_prerequisites(session, staff, session.get(User, unlock.user_id),
                                     learning.get_project(session, unlock.project_id),
                                     unlock_reason(unlock), source=SOURCE)
    session.commit()
    return unlock
