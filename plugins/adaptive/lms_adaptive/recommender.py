"""``adaptive``: recommendations from knowledge tracing and recent quiz results.

- ``revise_facet``: BKT mastery under ``revise_mastery_below`` (after at least 3 answers), or
  a recent quiz share right under ``revise_quiz_below`` (at least 2 questions);
- ``advanced_project``: recent quizzes averaging at least ``advanced_quiz_above`` (two or
  more) → the next project not started yet; or a project the placement diagnostic unlocked;
- ``quiz``: a published quiz of the learner's tracks not taken yet, first those that practise
  a weak facet.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lmscore.capabilities import (
    Recommendation,
    RecommendationKind,
    RecommendationRequest,
    Recommender,
)
from lmscore.models import (
    BankNode,
    EnrolmentStatus,
    Item,
    Project,
    QuestionBank,
    Quiz,
    QuizAttempt,
    QuizQuestion,
    QuizStatus,
    User,
)
from lmscore.services import learning, recommendations
from lmscore.services.permissions import Action, can

from . import evidence
from .models import Unlock

MIN_MASTERY_ANSWERS = 3
MIN_QUIZ_ANSWERS = 2


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


class AdaptiveRecommender(Recommender):
    name = "adaptive"
    label = "Knowledge tracing and recent quiz results"

    def __init__(self, settings: dict):
        self.settings = settings

    def recommend(self, session: Session, request: RecommendationRequest) -> list[Recommendation]:
        user = session.get(User, request.user_id)
        if user is None or not can(user, Action.SUBMIT_WORK):
            return []
        since = request.now - timedelta(days=self.settings["recent_days"])
        weak = self._weak_facets(session, user, since)
        found = weak + self._advanced(session, user, request, since) + self._quizzes(
            session, user, {int(r.target.split(":")[1]) for r in weak})
        return sorted(found, key=lambda r: -r.score)[: request.limit]

    def _weak_facets(self, session, user, since) -> list[Recommendation]:
        s = self.settings
        quiz = evidence.recent_quiz_facets(session, user.id, since)
        mastery = {m.facet_id: m for m in evidence.facet_mastery(session, user.id)}
        names = dict(session.execute(
            select(BankNode.id, BankNode.path).where(BankNode.id.in_(set(quiz) | set(mastery)))
        ).all()) if quiz or mastery else {}
        banks = dict(session.execute(
            select(BankNode.id, QuestionBank.code).join(QuestionBank)
            .where(BankNode.id.in_(names))).all()) if names else {}
        out = []
        for facet_id in sorted(names):
            m = mastery.get(facet_id)
            right, asked = quiz.get(facet_id, (0, 0))
            low_mastery = (m is not None and m.observations >= MIN_MASTERY_ANSWERS
                           and m.p_mastery < s["revise_mastery_below"])
            low_quiz = asked >= MIN_QUIZ_ANSWERS and right / asked < s["revise_quiz_below"]
            if not (low_mastery or low_quiz):
                continue
            reasons, facts = [], {"facet": names[facet_id]}
            if low_quiz:
                reasons.append(f"in your quizzes of the last {s['recent_days']} days you got "
                               f"{right} of {asked} questions on it right ({_pct(right / asked)}, "
                               f"below {_pct(s['revise_quiz_below'])})")
                facts.update(recent_quiz_right=right, recent_quiz_questions=asked)
            if low_mastery:
                reasons.append(f"your estimated mastery is {_pct(m.p_mastery)} (below "
                               f"{_pct(s['revise_mastery_below'])}) after {m.observations} "
                               f"answers, {m.correct} right")
                facts.update(mastery=round(m.p_mastery, 3), answers=m.observations,
                             right=m.correct)
            gap = max(s["revise_mastery_below"] - (m.p_mastery if m else 1.0),
                      s["revise_quiz_below"] - (right / asked if asked else 1.0))
            leaf = names[facet_id].rsplit("/", 1)[-1]
            summary = (f"Struggling facet: {right} of {asked} right in recent quizzes" if low_quiz
                       else f"Struggling facet: estimated mastery {_pct(m.p_mastery)}")
            out.append(Recommendation(
                RecommendationKind.REVISE_FACET, f"facet:{facet_id}", f"Revise {leaf}",
                min(1.0, 0.7 + gap), f"Revise {names[facet_id]}: " + "; ".join(reasons) + ".",
                facts, url=f"/review/{banks[facet_id]}", summary=summary))
        return out

    def _advanced(self, session, user, request, since) -> list[Recommendation]:
        s = self.settings
        out = []
        unlocked = session.execute(
            select(Unlock, Project).join(Project, Project.id == Unlock.project_id)
            .where(Unlock.user_id == user.id, Unlock.status == "approved")).all()
        for unlock, project in unlocked:
            out.append(Recommendation(
                RecommendationKind.ADVANCED_PROJECT, f"project:{project.id}",
                f"Start {project.title}", 0.8,
                f"Your placement diagnostic showed you already master what project "
                f"{project.number}'s prerequisites teach (skill ≥ "
                f"{unlock.evidence.get('threshold')} of 10).",
                {"diagnostic": unlock.diagnostic_id, **unlock.evidence},
                url=f"/projects/{project.id}", summary="Opened by your placement diagnostic",
                project_id=project.id))
        quizzes = evidence.recent_quizzes(session, user.id, since)
        if len(quizzes) < 2:
            return out
        average = sum(q.percent or 0 for q in quizzes) / len(quizzes)
        if average < s["advanced_quiz_above"] * 100:
            return out
        for progress in recommendations.learner_progress(session, user, request):
            if progress.enrolment is None or progress.enrolment.status != EnrolmentStatus.ACTIVE:
                continue
            current = max((p.project.number for p in progress.projects
                           if p.status in ("in_progress", "submitted")), default=0)
            ahead = next((p for p in progress.projects
                          if p.status == "not_started" and p.project.number > current), None)
            if ahead is None or any(r.target == f"project:{ahead.project.id}" for r in out):
                continue
            out.append(Recommendation(
                RecommendationKind.ADVANCED_PROJECT, f"project:{ahead.project.id}",
                f"Go further: {ahead.project.title}", 0.75,
                f"Your last {len(quizzes)} quizzes averaged {average:.0f} % (at least "
                f"{s['advanced_quiz_above'] * 100:.0f} %): you are ready for the next project.",
                {"recent_quizzes": len(quizzes), "quiz_average": round(average, 1),
                 "track": progress.track.code, "project": ahead.project.number},
                url=f"/projects/{ahead.project.id}",
                summary=f"Quizzes averaging {average:.0f} %: ready for more",
                project_id=ahead.project.id))
        return out

    def _quizzes(self, session, user, weak_facets: set[int]) -> list[Recommendation]:
        open_tracks = [e.track_id for e in learning.my_enrolments(session, user)
                       if e.status in learning.OPEN_ENROLMENT]
        if not open_tracks:
            return []
        taken = select(QuizAttempt.quiz_id).where(QuizAttempt.user_id == user.id)
        quizzes = list(session.scalars(
            select(Quiz).where(Quiz.status == QuizStatus.PUBLISHED.value,
                               Quiz.track_id.in_(open_tracks), Quiz.id.not_in(taken))
            .order_by(Quiz.id).limit(20)))
        practised = {}
        if quizzes and weak_facets:
            practised = dict(session.execute(
                select(QuizQuestion.quiz_id, BankNode.path)
                .join(Item, Item.id == QuizQuestion.item_id)
                .join(BankNode, BankNode.id == Item.facet_id)
                .where(QuizQuestion.quiz_id.in_([q.id for q in quizzes]), QuizQuestion.current(),
                       Item.facet_id.in_(weak_facets))).all())
        out = []
        for quiz in quizzes:
            facet = practised.get(quiz.id)
            reason = f"You have not taken “{quiz.title}” yet"
            reason += f"; it practises {facet}, which you are revising." if facet else "."
            out.append(Recommendation(
                RecommendationKind.QUIZ, f"quiz:{quiz.id}", f"Take {quiz.title}",
                0.65 if facet else 0.4, reason,
                {"quiz": quiz.id, "practises_weak_facet": facet}, url=f"/quizzes/{quiz.id}",
                summary=(f"Practises {facet.rsplit('/', 1)[-1]}, which you are revising"
                         if facet else "A quiz you have not taken yet")))
        return out
