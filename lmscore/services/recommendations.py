"""Recommendations for a learner: every registered recommender is asked, and their results
merged. Rank = provider score × the provider's ``[recommendations] weights`` entry (default
1; 0 skips the provider). One (kind, target) recommended by several providers is shown once,
with the best weighted score, its reason and evidence, and the other providers named. Nothing
leading into a project that is locked for the learner is offered, whoever suggests it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..capabilities import Recommendation, RecommendationRequest
from ..models import User
from . import learning

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedRecommendation:
    recommendation: Recommendation
    provider: str
    weight: float
    #: provider score × weight: what the list is sorted by.
    score: float
    #: Other providers that recommended the same thing.
    also_from: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        r = self.recommendation
        return {"kind": r.kind.value, "target": r.target, "title": r.title, "url": r.url,
                "score": round(self.score, 4), "provider": self.provider,
                "provider_score": round(r.score, 4), "weight": self.weight,
                "reason": r.reason, "evidence": dict(r.evidence),
                "also_from": list(self.also_from)}


def for_learner(lms: Platform, session: Session, user: User, now: datetime,
                limit: int | None = None,
                progress: Sequence[learning.TrackProgress] | None = None,
                ) -> list[RankedRecommendation]:
    """The merged, ranked recommendations for ``user`` (at most ``limit``, default
    ``[recommendations] limit``). ``progress``: the learner's ``learning.my_progress`` when
    the caller has it (computed here otherwise), handed to the recommenders so that none
    computes it again. A recommender that raises is logged and skipped: one broken provider
    must not take the dashboard down."""
    settings = lms.settings.recommendations
    limit = limit or settings.limit
    progress = tuple(learning.my_progress(session, user) if progress is None else progress)
    # Progress applies the lock rule (prerequisites, waivers): a provider's own view of the
    # project — an unlock it remembers, say — may be out of date.
    locked = {p.project.id for track in progress for p in track.projects if p.status == "locked"}
    request = RecommendationRequest(user_id=user.id, now=now, limit=limit, progress=progress)
    best: dict[tuple[str, str], RankedRecommendation] = {}
    supporters: dict[tuple[str, str], list[str]] = {}
    for recommender in lms.recommenders:
        weight = settings.weight(recommender.name)
        if weight == 0:
            continue
        try:
            found = recommender.recommend(session, request)
        except Exception:
            log.exception("recommender %r failed for user %s", recommender.name, user.id)
            continue
        for rec in found:
            if rec.project_id in locked:
                continue
            key = (rec.kind.value, rec.target)
            ranked = RankedRecommendation(rec, recommender.name, weight,
                                          max(0.0, min(1.0, rec.score)) * weight)
            supporters.setdefault(key, []).append(recommender.name)
            if key not in best or ranked.score > best[key].score:
                best[key] = ranked
    merged = [
        RankedRecommendation(r.recommendation, r.provider, r.weight, r.score,
                             tuple(p for p in supporters[key] if p != r.provider))
        for key, r in best.items()
    ]
    merged.sort(key=lambda r: (-r.score, r.recommendation.kind.value, r.recommendation.target))
    return merged[:limit]


def learner_progress(session: Session, user: User,
                     request: RecommendationRequest) -> Sequence[learning.TrackProgress]:
    """For a recommender: the learner's progress in each of their tracks, the request's when
    its caller computed it already (the dashboard does), otherwise computed now."""
    if request.progress is not None:
        return request.progress
    return learning.my_progress(session, user)
