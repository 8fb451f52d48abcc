"""Background model fitting, incremental and bounded in time.

- ``update_mastery``: answers copied since the ``mastery`` watermark are filtered through each
  facet's BKT parameters, starting from the learner's stored mastery (only new answers read).
- ``refit_bkt``: facets with answers newer than their last fit, and at least
  ``bkt_min_observations`` of them, are refitted (EM, warm-started from their current
  parameters, over their most recent ``MAX_SEQUENCE`` answers per learner); their learners'
  mastery is recomputed with the new parameters.
- ``refit_irt``: items with answers newer than their last calibration and at least
  ``irt_min_responses`` are recalibrated with the other items' parameters held fixed, from
  the answers of the learners who answered them.
Each stops starting new batches once its time budget is spent; what is left stays "new" and
the next run takes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lmscore.db import utcnow

from . import bkt, irt
from .models import Ability, FacetParameters, ItemParameters, Mastery, Observation
from .observations import watermark

MAX_SEQUENCE = 400
BATCH_OBSERVATIONS = 200_000


def facet_params(session: Session, settings: dict[str, Any],
                 facet_ids: Iterable[int]) -> bkt.Params:
    """BKT parameters for ``facet_ids`` in order: fitted where stored, else the defaults."""
    ids = list(facet_ids)
    stored = {row.facet_id: row for row in session.scalars(
        select(FacetParameters).where(FacetParameters.facet_id.in_(ids)))} if ids else {}
    params = bkt.Params.filled(len(ids), settings["bkt_prior"], settings["bkt_learn"],
                               settings["bkt_guess"], settings["bkt_slip"])
    for n, facet_id in enumerate(ids):
        row = stored.get(facet_id)
        if row is not None:
            params.prior[n], params.learn[n] = row.prior, row.learn
            params.guess[n], params.slip[n] = row.guess, row.slip
    return params


def _sequences(rows) -> tuple[list[tuple[int, int]], list[int], np.ndarray, np.ndarray]:
    """Rows ordered by (user, facet, id) → (pairs, facet ids, sequence per row, correct)."""
    user = np.fromiter((r.user_id for r in rows), np.int64, len(rows))
    facet = np.fromiter((r.facet_id for r in rows), np.int64, len(rows))
    correct = np.fromiter((r.correct for r in rows), bool, len(rows))
    new_pair = np.ones(len(rows), bool)
    new_pair[1:] = (user[1:] != user[:-1]) | (facet[1:] != facet[:-1])
    sequence = np.cumsum(new_pair) - 1
    firsts = np.flatnonzero(new_pair)
    pairs = list(zip(user[firsts].tolist(), facet[firsts].tolist(), strict=True))
    return pairs, sorted(set(facet.tolist())), sequence, correct


def _store_mastery(session: Session, pairs, values, counts, rights, last_ids,
                   *, replace: bool) -> None:
    """Upsert Mastery rows; ``replace`` sets the counts, otherwise adds to them."""
    users = sorted({u for u, _f in pairs})
    existing = {(m.user_id, m.facet_id): m for m in session.scalars(
        select(Mastery).where(Mastery.user_id.in_(users),
                              Mastery.facet_id.in_({f for _u, f in pairs})))}
    for n, (user_id, facet_id) in enumerate(pairs):
        row = existing.get((user_id, facet_id))
        if row is None:
            session.add(Mastery(user_id=user_id, facet_id=facet_id, p_mastery=float(values[n]),
                                observations=int(counts[n]), correct=int(rights[n]),
                                last_observation_id=int(last_ids[n])))
            continue
        row.p_mastery = float(values[n])
        row.observations = int(counts[n]) + (0 if replace else row.observations)
        row.correct = int(rights[n]) + (0 if replace else row.correct)
        row.last_observation_id = max(row.last_observation_id, int(last_ids[n]))


def update_mastery(session: Session, settings: dict[str, Any], budget_s: float) -> int:
    """Filter answers newer than the ``mastery`` watermark. Returns how many were read."""
    deadline = time.monotonic() + budget_s
    done = 0
    while time.monotonic() < deadline:
        mark = watermark(session, "mastery")
        batch = session.execute(
            select(Observation.id).where(Observation.id > mark.position)
            .order_by(Observation.id).limit(BATCH_OBSERVATIONS)
        ).scalars().all()
        if not batch:
            break
        rows = session.execute(
            select(Observation.id, Observation.user_id, Observation.facet_id,
                   Observation.correct)
            .where(Observation.id >= batch[0], Observation.id <= batch[-1])
            .order_by(Observation.user_id, Observation.facet_id, Observation.id)
        ).all()
        pairs, facets, sequence, correct = _sequences(rows)
        position = {f: n for n, f in enumerate(facets)}
        params = facet_params(session, settings, facets)
        sequence_facet = np.array([position[f] for _u, f in pairs])
        stored = {(m.user_id, m.facet_id): m.p_mastery for m in session.scalars(
            select(Mastery).where(Mastery.user_id.in_({u for u, _f in pairs}),
                                  Mastery.facet_id.in_(facets)))}
        start = np.array([stored.get(pair, params.prior[position[pair[1]]]) for pair in pairs])
        packed = bkt.pack(sequence, correct, sequence_facet)
        values = np.empty(len(pairs))
        values[packed.row_sequence] = bkt.mastery_after(packed, params, start[packed.row_sequence])
        ids = np.fromiter((r.id for r in rows), np.int64, len(rows))
        _store_mastery(session, pairs, values, np.bincount(sequence),
                       np.bincount(sequence, correct), np.maximum.reduceat(ids, _starts(sequence)),
                       replace=False)
        mark.position = batch[-1]
        session.commit()
        done += len(rows)
    return done


def _starts(sequence: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.concatenate(([True], sequence[1:] != sequence[:-1])))


def facets_to_fit(session: Session, min_observations: int) -> list[int]:
    """Facets with enough answers, some newer than their last fit."""
    fitted = func.coalesce(FacetParameters.last_observation_id, 0)
    return list(session.scalars(
        select(Observation.facet_id)
        .outerjoin(FacetParameters, FacetParameters.facet_id == Observation.facet_id)
        .group_by(Observation.facet_id, fitted)
        .having(func.count() >= min_observations, func.max(Observation.id) > fitted)
        .order_by(Observation.facet_id)
    ))


def refit_bkt(session: Session, settings: dict[str, Any], budget_s: float) -> list[int]:
    """Refit the facets that need it, in batches of about ``BATCH_OBSERVATIONS`` answers.
    Returns the facets refitted."""
    deadline = time.monotonic() + budget_s
    todo = facets_to_fit(session, settings["bkt_min_observations"])
    counts = dict(session.execute(
        select(Observation.facet_id, func.count()).where(Observation.facet_id.in_(todo))
        .group_by(Observation.facet_id)).all()) if todo else {}
    refitted: list[int] = []
    while todo and time.monotonic() < deadline:
        batch, size = [], 0
        while todo and (not batch or size + counts[todo[0]] <= BATCH_OBSERVATIONS):
            size += counts[todo[0]]
            batch.append(todo.pop(0))
        _refit_facets(session, settings, batch)
        session.commit()
        refitted += batch
    return refitted


def _refit_facets(session: Session, settings: dict[str, Any], facet_ids: list[int]) -> None:
    rows = session.execute(
        select(Observation.id, Observation.user_id, Observation.facet_id, Observation.correct)
        .where(Observation.facet_id.in_(facet_ids))
        .order_by(Observation.user_id, Observation.facet_id, Observation.id)
    ).all()
    pairs, facets, sequence, correct = _sequences(rows)
    position = {f: n for n, f in enumerate(facets)}
    sequence_facet = np.array([position[f] for _u, f in pairs])
    # Fit on each learner's most recent answers: long histories add little to the estimate
    # and cost a loop step per answer.
    from_end = np.bincount(sequence)[sequence] - (np.arange(len(sequence))
                                                  - _starts(sequence)[sequence])
    recent = from_end <= MAX_SEQUENCE
    fitted, log_likelihood = bkt.fit(bkt.pack(sequence[recent], correct[recent], sequence_facet),
                                     facet_params(session, settings, facets), len(facets))
    ids = np.fromiter((r.id for r in rows), np.int64, len(rows))
    facet_of_row = np.array(facets)[sequence_facet[sequence]]
    last_by_facet = {f: int(ids[facet_of_row == f].max()) for f in facets}
    stored = {row.facet_id: row for row in session.scalars(
        select(FacetParameters).where(FacetParameters.facet_id.in_(facets)))}
    for n, facet_id in enumerate(facets):
        row = stored.get(facet_id) or FacetParameters(facet_id=facet_id)
        row.prior, row.learn = float(fitted.prior[n]), float(fitted.learn[n])
        row.guess, row.slip = float(fitted.guess[n]), float(fitted.slip[n])
        row.observations = int(np.sum(facet_of_row == facet_id))
        row.last_observation_id = last_by_facet[facet_id]
        row.log_likelihood = log_likelihood
        row.fitted_at = utcnow()
        session.add(row)
    # Mastery under the new parameters, from each learner's whole history of the facet.
    packed = bkt.pack(sequence, correct, sequence_facet)
    values = np.empty(len(pairs))
    values[packed.row_sequence] = bkt.mastery_after(packed, fitted)
    _store_mastery(session, pairs, values, np.bincount(sequence), np.bincount(sequence, correct),
                   np.maximum.reduceat(ids, _starts(sequence)), replace=True)


def items_to_calibrate(session: Session, min_responses: int) -> list[int]:
    calibrated = func.coalesce(ItemParameters.last_observation_id, 0)
    return list(session.scalars(
        select(Observation.item_id)
        .outerjoin(ItemParameters, ItemParameters.item_id == Observation.item_id)
        .group_by(Observation.item_id, calibrated)
        .having(func.count() >= min_responses, func.max(Observation.id) > calibrated)
        .order_by(Observation.item_id)
    ))


def refit_irt(session: Session, settings: dict[str, Any], budget_s: float,
              *, max_responses: int = 2_000_000) -> list[int]:
    """Recalibrate the items that need it from the answers of the learners who answered them
    (at most ``max_responses`` answers per run: the rest waits for the next run). Other items
    keep their stored parameters and anchor the scale. Returns the items recalibrated."""
    started = time.monotonic()
    todo = items_to_calibrate(session, settings["irt_min_responses"])
    if not todo or budget_s <= 0:
        return []
    learners = select(Observation.user_id).where(Observation.item_id.in_(todo)).distinct()
    rows = session.execute(
        select(Observation.id, Observation.user_id, Observation.item_id, Observation.correct)
        .where(Observation.user_id.in_(learners)).order_by(Observation.id).limit(max_responses)
    ).all()
    user_ids, user = np.unique(np.fromiter((r.user_id for r in rows), np.int64, len(rows)),
                               return_inverse=True)
    item_ids, item = np.unique(np.fromiter((r.item_id for r in rows), np.int64, len(rows)),
                               return_inverse=True)
    correct = np.fromiter((r.correct for r in rows), bool, len(rows))
    ids = np.fromiter((r.id for r in rows), np.int64, len(rows))
    stored = {row.item_id: row for row in session.scalars(
        select(ItemParameters).where(ItemParameters.item_id.in_(item_ids.tolist())))}
    two_parameter = settings["irt_model"] == "2pl"
    data = irt.Responses(user, item, correct, len(user_ids), len(item_ids))
    free = np.isin(item_ids, todo) | np.array([i not in stored for i in item_ids.tolist()])
    if stored:
        first = irt.fit(data, two_parameter=two_parameter, max_iterations=1)  # starting values
        start = irt.Calibration(
            a=np.array([stored[i].discrimination if i in stored else first.a[n]
                        for n, i in enumerate(item_ids.tolist())]),
            b=np.array([stored[i].difficulty if i in stored else first.b[n]
                        for n, i in enumerate(item_ids.tolist())]),
            theta=first.theta)
        cal = irt.fit(data, two_parameter=two_parameter, start=start, free_items=free,
                      deadline=started + budget_s)
    else:
        cal = irt.fit(data, two_parameter=two_parameter, deadline=started + budget_s)
    answered = np.bincount(item, minlength=len(item_ids))
    right = np.bincount(item, correct, len(item_ids))
    last = np.zeros(len(item_ids), np.int64)
    np.maximum.at(last, item, ids)
    now = utcnow()
    done = []
    for n, item_id in enumerate(item_ids.tolist()):
        if not free[n] or answered[n] < settings["irt_min_responses"]:
            continue
        row = stored.get(item_id) or ItemParameters(item_id=item_id)
        row.difficulty, row.discrimination = float(cal.b[n]), float(cal.a[n])
        row.responses, row.p_correct = int(answered[n]), float(right[n] / answered[n])
        row.model, row.last_observation_id, row.fitted_at = settings["irt_model"], int(last[n]), now
        session.add(row)
        done.append(item_id)
    abilities = {row.user_id: row for row in session.scalars(
        select(Ability).where(Ability.user_id.in_(user_ids.tolist())))}
    responses = np.bincount(user, minlength=len(user_ids))
    for n, user_id in enumerate(user_ids.tolist()):
        row = abilities.get(user_id) or Ability(user_id=user_id)
        row.theta, row.responses, row.fitted_at = float(cal.theta[n]), int(responses[n]), now
        session.add(row)
    session.commit()
    return done
