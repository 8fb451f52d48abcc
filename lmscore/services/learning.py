"""Tracks, enrolment and progress.

Access: anyone sees the catalogue and project outlines; step content and deliverables are for
learners enrolled (active or completed) in the track, and for trainers and admins.

Project status for a learner, in order of precedence:
- ``completed``: every required deliverable has an approved submission (a project without
  required deliverables: every step completed);
- ``locked``: a prerequisite project is not completed, and no prerequisite waiver opens the
  project to this learner (a waiver never completes anything: projects that need this one
  still wait for it);
- ``submitted``: every required deliverable is approved or awaiting review;
- ``in_progress``: a step is completed or something was submitted;
- ``not_started``.
Percentage: completed steps plus approved required deliverables, over their total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from ..capabilities import PaymentStatus
from ..db import utcnow
from ..errors import Conflict, NotFound, PaymentRequired, PermissionDenied, ValidationFailed
from ..events import EnrolmentChanged
from ..models import (
    AWAITING,
    Deliverable,
    Enrolment,
    EnrolmentStatus,
    PrerequisiteWaiver,
    Project,
    Role,
    Step,
    StepCompletion,
    Submission,
    SubmissionStatus,
    Track,
    User,
)
from . import events
from .audit import audit, required_reason
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..platform import Platform

STAFF_ROLES = {Role.TRAINER.value, Role.ADMIN.value, Role.SUPERADMIN.value}
OPEN_ENROLMENT = (EnrolmentStatus.ACTIVE.value, EnrolmentStatus.COMPLETED.value)


# -- catalogue and access ---------------------------------------------------------------------


def catalogue(session: Session) -> list[Track]:
    return list(session.scalars(
        select(Track).where(Track.archived_at.is_(None)).order_by(Track.code)
    ))


def get_track(session: Session, code: str) -> Track:
    track = session.scalar(
        select(Track).where(Track.code == code.upper(), Track.archived_at.is_(None))
    )
    if track is None:
        raise NotFound(f"No track with code {code!r}.")
    return track


def live_projects(session: Session, track: Track) -> list[Project]:
    return list(session.scalars(
        select(Project)
        .where(Project.track_id == track.id, Project.archived_at.is_(None))
        .order_by(Project.number)
    ))


def get_project(session: Session, project_id: int) -> Project:
    project = session.scalar(
        select(Project)
        .where(Project.id == project_id, Project.archived_at.is_(None))
        .options(selectinload(Project.steps), selectinload(Project.deliverables))
    )
    if project is None or project.track.archived_at is not None:
        raise NotFound(f"No project with id {project_id}.")
    return project


def enrolment_of(session: Session, user: User | None, track_id: int) -> Enrolment | None:
    if user is None:
        return None
    return session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.track_id == track_id)
    )


def can_see_content(session: Session, user: User | None, track: Track) -> bool:
    if user is None:
        return False
    if user.role in STAFF_ROLES:
        return True
    enrolment = enrolment_of(session, user, track.id)
    return enrolment is not None and enrolment.status in OPEN_ENROLMENT


def require_content_access(session: Session, user: User | None, track: Track) -> None:
    if not can_see_content(session, user, track):
        raise PermissionDenied(f"Enrol in {track.name} to see its steps and deliverables.")


# -- enrolment ---------------------------------------------------------------------------------


def _set_status(session: Session, enrolment: Enrolment, status: EnrolmentStatus,
                track: Track) -> None:
    previous = enrolment.status
    if previous == status.value:
        return
    enrolment.status = status.value
    now = utcnow()
    if status is EnrolmentStatus.ACTIVE and enrolment.activated_at is None:
        enrolment.activated_at = now
    if status is EnrolmentStatus.COMPLETED:
        enrolment.completed_at = now
    session.flush()
    events.emit(session, EnrolmentChanged(
        enrolment_id=enrolment.id, user_id=enrolment.user_id, track_code=track.code,
        status=status.value, previous_status=previous or None,
    ))


def set_enrolment_status(session: Session, enrolment: Enrolment,
                         status: EnrolmentStatus) -> None:
    """Change an enrolment's status (and emit the event). Payments and admins call it."""
    _set_status(session, enrolment, status, session.get(Track, enrolment.track_id))


def enrol(lms: Platform, session: Session, user: User, code: str) -> Enrolment:
    """Enrol ``user`` through the track's payment provider. Immediate for free tracks and
    the ``free`` provider; otherwise a checkout starts and ``PaymentRequired`` carries its
    reference (the enrolment stays pending_payment until the provider confirms). Commits."""
    from . import payments  # it builds on this module

    started = payments.checkout(lms, session, user, code)
    payment = started.payment
    if payment is None or payment.status == PaymentStatus.SUCCEEDED:
        return started.enrolment
    track = payment.track
    raise PaymentRequired(
        f"{track.name} costs {payments.format_amount(payment.amount_minor)} "
        f"{payment.currency}; complete the checkout to enrol.",
        details={"payment_id": payment.id, "checkout_url": started.checkout_url,
                 "client_secret": started.client_secret, "provider": payment.provider},
    )


def my_enrolments(session: Session, user: User) -> list[Enrolment]:
    return list(session.scalars(
        select(Enrolment).where(Enrolment.user_id == user.id)
        .options(joinedload(Enrolment.track, innerjoin=True)).order_by(Enrolment.id)
    ))


# -- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutline:
    """What progress needs of a step: enough to link to it, without its body."""

    id: int
    number: int
    title: str


@dataclass
class ProjectProgress:
    project: Project
    status: str
    percent: int
    steps_done: int
    steps_total: int
    time_spent_s: int
    completed_step_ids: set[int] = field(default_factory=set)
    #: The first live step (in number order) not completed yet; None once every step is done.
    next_step: StepOutline | None = None
    #: The waiver that opens this project although a prerequisite is not completed (None
    #: when the prerequisites are met, or the project is completed).
    unlocked_by: PrerequisiteWaiver | None = None


@dataclass
class TrackProgress:
    track: Track
    enrolment: Enrolment | None
    projects: list[ProjectProgress]

    @property
    def percent(self) -> int:
        if not self.projects:
            return 0
        return round(sum(p.percent for p in self.projects) / len(self.projects))

    @property
    def completed(self) -> bool:
        return bool(self.projects) and all(p.status == "completed" for p in self.projects)

    @property
    def time_spent_s(self) -> int:
        return sum(p.time_spent_s for p in self.projects)

    @property
    def next_up(self) -> ProjectProgress | None:
        """The project to work on next: in an active enrolment, the first project neither
        completed nor locked (its ``next_step``, or its deliverables once every step is
        done). None when the enrolment is not active or no project is open."""
        if self.enrolment is None or self.enrolment.status != EnrolmentStatus.ACTIVE:
            return None
        return next((p for p in self.projects if p.status not in ("completed", "locked")),
                    None)


def track_progress(session: Session, user: User, track: Track) -> TrackProgress:
    return tracks_progress(session, user, [track])[0]


def my_progress(session: Session, user: User) -> list[TrackProgress]:
    """Progress in every track the learner is enrolled in (any status)."""
    enrolments = my_enrolments(session, user)
    return _tracks_progress(session, user, [e.track for e in enrolments],
                            {e.track_id: e for e in enrolments})


def tracks_progress(session: Session, user: User, tracks: list[Track]) -> list[TrackProgress]:
    """Progress of one learner in several tracks, in a fixed number of queries (however many
    tracks, projects, steps or other learners there are)."""
    return _tracks_progress(session, user, tracks, None)


def _tracks_progress(session: Session, user: User, tracks: list[Track],
                     enrolments: dict[int, Enrolment] | None) -> list[TrackProgress]:
    """``enrolments``: the learner's, by track id, when the caller has them already."""
    if not tracks:
        return []
    if enrolments is None:
        enrolments = {e.track_id: e for e in session.scalars(select(Enrolment).where(
            Enrolment.user_id == user.id, Enrolment.track_id.in_([t.id for t in tracks])
        ))}
    projects = list(session.scalars(
        select(Project)
        .where(Project.track_id.in_([t.id for t in tracks]), Project.archived_at.is_(None))
        .order_by(Project.track_id, Project.number)
    ))
    project_ids = [p.id for p in projects]
    # Outlines rather than Step rows: the bodies are long and progress never shows them.
    steps = session.execute(
        select(Step.id, Step.project_id, Step.number, Step.title)
        .where(Step.project_id.in_(project_ids), Step.archived_at.is_(None))
        .order_by(Step.project_id, Step.number)
    ).all()
    required = session.execute(
        select(Deliverable.id, Deliverable.project_id).where(
            Deliverable.project_id.in_(project_ids), Deliverable.archived_at.is_(None),
            Deliverable.required.is_(True),
        )
    ).all()
    done = dict(session.execute(
        select(StepCompletion.step_id, StepCompletion.time_spent_s)
        .join(Step, Step.id == StepCompletion.step_id)
        .where(StepCompletion.user_id == user.id, Step.project_id.in_(project_ids))
    ).all())
    latest = latest_submission_statuses(session, user.id, [d.id for d in required])
    submitted_any = set(session.scalars(
        select(Deliverable.project_id).join(Submission, Submission.deliverable_id == Deliverable.id)
        .where(Submission.user_id == user.id, Deliverable.project_id.in_(project_ids)).distinct()
    ))
    waivers = {w.project_id: w for w in session.scalars(select(PrerequisiteWaiver).where(
        PrerequisiteWaiver.user_id == user.id, PrerequisiteWaiver.project_id.in_(project_ids)
    ))}

    steps_by_project: dict[int, list[StepOutline]] = defaultdict(list)
    for step_id, project_id, number, title in steps:
        steps_by_project[project_id].append(StepOutline(step_id, number, title))
    required_by_project: dict[int, list[int]] = defaultdict(list)
    for deliverable_id, project_id in required:
        required_by_project[project_id].append(deliverable_id)

    by_track: dict[int, list[ProjectProgress]] = defaultdict(list)
    status_by_number: dict[tuple[int, int], str] = {}
    for project in projects:  # in number order per track: prerequisites come first
        unmet = any(status_by_number.get((project.track_id, n)) != "completed"
                    for n in project.prerequisites)
        waiver = waivers.get(project.id) if unmet else None
        progress = _project_progress(
            project, steps_by_project[project.id],
            [latest.get(d) for d in required_by_project[project.id]], done,
            blocked=unmet and waiver is None, submitted=project.id in submitted_any,
        )
        if progress.status != "completed":
            progress.unlocked_by = waiver
        by_track[project.track_id].append(progress)
        status_by_number[(project.track_id, project.number)] = progress.status
    return [TrackProgress(track=t, enrolment=enrolments.get(t.id), projects=by_track[t.id])
            for t in tracks]


def _project_progress(
    project: Project, steps: list[StepOutline], statuses: list[str | None],
    done: dict[int, int], *, blocked: bool, submitted: bool,
) -> ProjectProgress:
    step_ids = [s.id for s in steps]
    done_ids = {s for s in step_ids if s in done}
    approved = sum(1 for s in statuses if s == SubmissionStatus.APPROVED.value)
    if statuses:
        complete = approved == len(statuses)
    else:
        complete = bool(step_ids) and len(done_ids) == len(step_ids)
    if complete:
        status = "completed"
    elif blocked:
        status = "locked"
    elif statuses and all(s == SubmissionStatus.APPROVED.value or s in AWAITING
                          for s in statuses):
        status = "submitted"
    elif done_ids or submitted:
        status = "in_progress"
    else:
        status = "not_started"
    total = len(step_ids) + len(statuses)
    percent = 100 if complete else (
        round(100 * (len(done_ids) + approved) / total) if total else 0
    )
    return ProjectProgress(
        project=project, status=status, percent=percent, steps_done=len(done_ids),
        steps_total=len(step_ids), time_spent_s=sum(done[s] for s in done_ids),
        completed_step_ids=done_ids, next_step=next((s for s in steps if s.id not in done), None),
    )


def latest_submission_statuses(
    session: Session, user_id: int, deliverable_ids: list[int]
) -> dict[int, str]:
    """The status of the learner's latest attempt per deliverable."""
    if not deliverable_ids:
        return {}
    newest = (
        select(Submission.deliverable_id, func.max(Submission.attempt).label("attempt"))
        .where(Submission.user_id == user_id, Submission.deliverable_id.in_(deliverable_ids),
               Submission.status != SubmissionStatus.DRAFT.value)
        .group_by(Submission.deliverable_id)
        .subquery()
    )
    rows = session.execute(
        select(Submission.deliverable_id, Submission.status).join(
            newest,
            (Submission.deliverable_id == newest.c.deliverable_id)
            & (Submission.attempt == newest.c.attempt),
        ).where(Submission.user_id == user_id)
    ).all()
    return dict(rows)


def project_progress(session: Session, user: User, project: Project) -> ProjectProgress:
    progress = track_progress(session, user, project.track)
    return next(p for p in progress.projects if p.project.id == project.id)


def require_open_project(session: Session, user: User, project: Project) -> ProjectProgress:
    """The learner is enrolled and the project is not locked by prerequisites."""
    enrolment = enrolment_of(session, user, project.track_id)
    if enrolment is None or enrolment.status not in OPEN_ENROLMENT:
        raise PermissionDenied(f"Enrol in {project.track.name} first.")
    progress = project_progress(session, user, project)
    if progress.status == "locked":
        raise Conflict(
            f"Project {project.number} is locked until its prerequisites are completed: "
            + ", ".join(str(n) for n in project.prerequisites) + ".",
            details={"prerequisites": project.prerequisites},
        )
    return progress


def complete_step(session: Session, user: User, step_id: int, time_spent_s: int = 0) -> Step:
    """Mark a step completed (idempotent). Commits."""
    require(user, Action.SUBMIT_WORK)
    step = session.get(Step, step_id)
    if step is None or step.archived_at is not None:
        raise NotFound(f"No step with id {step_id}.")
    if time_spent_s < 0 or time_spent_s > 7 * 24 * 3600:
        raise ValidationFailed("time_spent_s is out of range.",
                               details={"fields": {"time_spent_s": ["must be 0 to 604800"]}})
    require_open_project(session, user, step.project)
    exists = session.scalar(select(StepCompletion).where(
        StepCompletion.user_id == user.id, StepCompletion.step_id == step.id
    ))
    if exists is None:
        session.add(StepCompletion(user_id=user.id, step_id=step.id, time_spent_s=time_spent_s))
    session.commit()
    return step


def refresh_track_completion(session: Session, user: User, track: Track) -> None:
    """Mark the enrolment completed once every project is (called after approvals)."""
    enrolment = enrolment_of(session, user, track.id)
    if enrolment is None or enrolment.status != EnrolmentStatus.ACTIVE.value:
        return
    if track_progress(session, user, track).completed:
        _set_status(session, enrolment, EnrolmentStatus.COMPLETED, track)


def is_staff(user: User) -> bool:
    return can(user, Action.REVIEW_SUBMISSIONS)


# -- prerequisite waivers ----------------------------------------------------------------------

#: ``source`` of a waiver a trainer or admin grants by hand (plugins use their own id).
STAFF_WAIVER = "trainer"


def _require_waiver_rights(actor: User, learner: User) -> None:
    require(actor, Action.WAIVE_PREREQUISITES)
    if not can(actor, Action.VIEW_ANY_USER) and learner.trainer_id != actor.id:
        raise PermissionDenied("You can only unlock projects for learners assigned to you.")


def waiver_subjects(session: Session, actor: User, user_id: int,
                    project_id: int) -> tuple[User, Project]:
    """The learner and live project a waiver request names (for views that get ids): staff
    only, so a learner is told 403 before anything about the ids."""
    require(actor, Action.WAIVE_PREREQUISITES)
    learner = session.get(User, user_id)
    if learner is None:
        raise NotFound(f"No user with id {user_id}.")
    return learner, get_project(session, project_id)


def _waiver_target(learner: User, project: Project) -> str:
    return f"waiver:user={learner.id},project={project.id}"


def waive_prerequisites(session: Session, actor: User, learner: User, project: Project,
                        reason: str, source: str = STAFF_WAIVER) -> PrerequisiteWaiver:
    """A trainer of ``learner`` (or an admin) opens ``project`` to them although its
    prerequisite projects are not completed. One waiver per learner and project: waiving
    again keeps it and records the new reason (idempotent when nothing changes). Audited.
    Commits."""
    _require_waiver_rights(actor, learner)
    waiver = _waive(session, actor, learner, project, required_reason(reason), source)
    session.commit()
    return waiver


def waive_prerequisites_as_system(session: Session, learner: User, project: Project, *,
                                  reason: str, source: str) -> PrerequisiteWaiver:
    """The same without a person: for a plugin's own rule that grants waivers by itself
    (``source`` its id, e.g. an automatic placement unlock). No permission check — the caller
    is trusted code, never a request's user; the audit entry has no actor. Flushes only: the
    caller commits it together with the change that justified it."""
    return _waive(session, None, learner, project, required_reason(reason), source)


def _waive(session: Session, actor: User | None, learner: User, project: Project,
           reason: str, source: str) -> PrerequisiteWaiver:
    if not can(learner, Action.SUBMIT_WORK):
        raise Conflict(f"{learner.name} is not a learner: there is nothing to unlock.")
    if not project.prerequisites:
        raise Conflict(f"Project {project.number} has no prerequisites to waive.")
    if not source or len(source) > 64:
        raise ValueError(f"A waiver's source is 1 to 64 characters, not {source!r}.")
    query = select(PrerequisiteWaiver).where(
        PrerequisiteWaiver.user_id == learner.id, PrerequisiteWaiver.project_id == project.id
    ).with_for_update(of=PrerequisiteWaiver)
    waiver = session.scalar(query)
    granted_by = actor.id if actor else None
    previous = None
    if waiver is None:
        try:
            with session.begin_nested():
                waiver = PrerequisiteWaiver(user_id=learner.id, project_id=project.id,
                                            granted_by_id=granted_by, source=source,
                                            reason=reason)
                session.add(waiver)
        except IntegrityError:  # a concurrent request waived it first: update theirs
            waiver = session.scalars(query.execution_options(populate_existing=True)).one()
    elif (waiver.reason, waiver.source, waiver.granted_by_id) == (reason, source, granted_by):
        return waiver
    else:
        previous = {"reason": waiver.reason, "source": waiver.source,
                    "granted_by_id": waiver.granted_by_id}
    waiver.reason, waiver.source, waiver.granted_by_id = reason, source, granted_by
    audit(session, actor, "prerequisites.waive", _waiver_target(learner, project),
          {"user_id": learner.id, "project_id": project.id, "track_id": project.track_id,
           "project_number": project.number, "reason": reason, "source": source,
           "previous": previous})
    return waiver


def revoke_waiver(session: Session, actor: User, learner: User, project: Project) -> bool:
    """A trainer of ``learner`` (or an admin) withdraws a waiver: the project is locked again
    until its prerequisites are completed (work already done stays). False when there was no
    waiver (revoking twice is harmless). Audited. Commits."""
    _require_waiver_rights(actor, learner)
    waiver = session.scalar(select(PrerequisiteWaiver).where(
        PrerequisiteWaiver.user_id == learner.id, PrerequisiteWaiver.project_id == project.id
    ).with_for_update(of=PrerequisiteWaiver))
    if waiver is None:
        return False
    audit(session, actor, "prerequisites.revoke", _waiver_target(learner, project),
          {"user_id": learner.id, "project_id": project.id, "track_id": project.track_id,
           "project_number": project.number, "reason": waiver.reason, "source": waiver.source,
           "granted_by_id": waiver.granted_by_id})
    session.delete(waiver)
    session.commit()
    return True

