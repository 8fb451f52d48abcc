"""``core``: the recommender every app has, so the dashboard suggests something without any
plugin: the next step whose prerequisites are met, and reviews that are due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..capabilities import (
    Recommendation,
    RecommendationKind,
    RecommendationRequest,
    Recommender,
)
from ..hookspecs import hookimpl
from ..models import CardState, Item, QuestionBank, User
from ..services import learning, recommendations
from ..services.permissions import Action, can


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def next_steps(tracks: Sequence[learning.TrackProgress]) -> list[Recommendation]:
    """Per active track: the first step not done in the first open, unfinished project (or
    handing it in once every step is done)."""
    out = []
    for progress in tracks:
        current = progress.next_up
        if current is None:
            continue
        project = current.project
        evidence = {"track": progress.track.code, "project": project.number,
                    "prerequisites_completed": list(project.prerequisites),
                    "steps_done": current.steps_done, "steps_total": current.steps_total}
        why = (f"You have done {current.steps_done} of {current.steps_total} steps of project "
               f"{project.number}")
        if project.prerequisites:
            why += (", and its prerequisites (project "
                    f"{', '.join(str(n) for n in project.prerequisites)}) are completed")
        step = current.next_step
        summary = f"Next step in {progress.track.name}"
        if step is not None:
            out.append(Recommendation(
                RecommendationKind.NEXT_STEP, f"step:{step.id}",
                f"{progress.track.code} · {project.title}: {step.title}", 0.7, why + ".",
                evidence, url=f"/projects/{project.id}#step-{step.id}", summary=summary,
                project_id=project.id))
        else:
            out.append(Recommendation(
                RecommendationKind.NEXT_STEP, f"project:{project.id}:deliverables",
                f"{progress.track.code} · hand in {project.title}", 0.7,
                why + "; what is left is handing in its deliverables.", evidence,
                url=f"/projects/{project.id}#deliverables-title", summary=summary,
                project_id=project.id))
    return out


def due_reviews(session: Session, user: User, now: datetime) -> list[Recommendation]:
    rows = session.execute(
        select(QuestionBank.code, QuestionBank.name, func.count(), func.min(CardState.due_at))
        .join(CardState, CardState.bank_id == QuestionBank.id)
        .join(Item, Item.id == CardState.item_id)
        .where(CardState.user_id == user.id, CardState.due_at <= now,
               Item.archived_at.is_(None))
        .group_by(QuestionBank.code, QuestionBank.name).order_by(QuestionBank.code)
    ).all()
    out = []
    for code, name, due, oldest in rows:
        waited = max(0, (now - oldest).days)
        out.append(Recommendation(
            RecommendationKind.REVIEW_DUE, f"bank:{code}", f"Review {name}",
            # More due cards, more urgent; never quite 1, which revision of a weak facet gets.
            min(0.95, 0.5 + due / 100),
            f"{_plural(due, 'review')} due in {name}; the oldest has waited "
            f"{_plural(waited, 'day')}. Reviewing on time keeps what you learned.",
            {"bank": code, "due": due, "oldest_due_at": oldest.isoformat(),
             "days_waited": waited},
            url=f"/review/{code}", summary=f"Review: {_plural(due, 'card')} due in {name}"))
    return out


class CoreRecommender(Recommender):
    name = "core"
    label = "Next steps and due reviews"

    def recommend(self, session: Session, request: RecommendationRequest) -> list[Recommendation]:
        user = session.get(User, request.user_id)
        if user is None or not can(user, Action.SUBMIT_WORK):
            return []
        found = due_reviews(session, user, request.now) + next_steps(
            recommendations.learner_progress(session, user, request))
        return sorted(found, key=lambda r: -r.score)[: request.limit]


@hookimpl
def lms_register_recommenders():
    return [CoreRecommender()]
