"""Curriculum content: sync from content sources, and authoring through the API.

Sync: re-running changes nothing; edited content is updated in place; content that
disappeared is archived (never deleted), so learner progress and submissions keep their
targets. Each track is applied in one transaction: invalid content leaves that track exactly
as it was.

Authoring: admins create and edit tracks (``source`` "") through the API. A track belongs to
exactly one owner: sync never touches API-made tracks, and the API refuses to edit tracks a
content source owns (the next sync would silently undo the edit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..capabilities.content import ContentError, ProjectSpec, TrackSpec
from ..db import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Deliverable, Project, QuestionBank, Step, Track, User
from .banks import ImportReport, archive_missing, get_or_create_bank, import_items
from .permissions import Action, require

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass
class TrackSyncResult:
    code: str
    source: str
    created: int = 0
    updated: int = 0
    archived: int = 0
    restored: int = 0
    error: str = ""
    items: ImportReport = field(default_factory=ImportReport)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.archived or self.restored
                    or self.items.changed)


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set changed attributes only; True when anything changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


class _Applier:
    def __init__(self, session: Session, result: TrackSyncResult):
        self.session = session
        self.result = result
        self.now = utcnow()

    def upsert(self, row: Any | None, model: type, values: dict[str, Any]) -> Any:
        if row is None:
            row = model(**values)
            self.session.add(row)
            self.result.created += 1
            return row
        if row.archived_at is not None:
            row.archived_at = None
            self.result.restored += 1
        if _assign(row, values):
            self.result.updated += 1
        return row

    def archive_missing(self, rows: Iterable[Any], keep: set[Any], key: Callable[[Any], Any]):
        for row in rows:
            if key(row) not in keep and row.archived_at is None:
                row.archived_at = self.now
                self.result.archived += 1


def apply_track(session: Session, spec: TrackSpec, source: str,
                graders: set[str]) -> TrackSyncResult:
    """Apply one track spec in the caller's transaction (the caller commits or rolls back).
    ``graders`` are the registered grader names a deliverable may name."""
    for project in spec.projects:
        for deliverable in project.deliverables:
            if deliverable.grader and deliverable.grader not in graders:
                raise ContentError(
                    f"project {project.number}, deliverable {deliverable.key!r}: no grader "
                    f"named {deliverable.grader!r} (available: {', '.join(sorted(graders))})",
                    file=spec.origin, field="deliverables.grader",
                )
    result = TrackSyncResult(code=spec.code, source=source)
    applier = _Applier(session, result)
    track = session.scalar(select(Track).where(Track.code == spec.code))
    if track is not None and track.source != source:
        owner = f"content source {track.source!r}" if track.source else "the API (an admin)"
        raise ContentError(f"track {spec.code} was created by {owner}", file=spec.origin,
                           field="code")
    track = applier.upsert(track, Track, {
        "code": spec.code, "name": spec.name, "description": spec.description,
        "duration_weeks": spec.duration_weeks, "price_minor": spec.price_minor,
        "currency": spec.currency, "settings": dict(spec.settings), "source": source,
    })
    session.flush()
    existing = {
        p.number: p for p in session.scalars(select(Project).where(Project.track_id == track.id))
    }
    for project_spec in spec.projects:
        _apply_project(session, applier, track, existing.get(project_spec.number), project_spec)
    applier.archive_missing(
        existing.values(), {p.number for p in spec.projects}, lambda p: p.number
    )
    _apply_bank(session, track, spec, source, result)
    return result


def _apply_bank(session: Session, track: Track, spec: TrackSpec, source: str,
                result: TrackSyncResult) -> None:
    """The track's question bank (code = track code), items from this source only."""
    has_bank = session.scalar(select(QuestionBank.id).where(QuestionBank.code == spec.code))
    if not spec.items and not has_bank:
        return
    bank = get_or_create_bank(session, spec.code, f"{spec.name} question bank", track.id)
    item_source = f"{source}:{spec.code}"
    report = import_items(
        session, bank, ((f"item {n}", item) for n, item in enumerate(spec.items, start=1)),
        item_source,
    )
    if report.failed:
        first = report.failed[0]
        raise ContentError(f"{first.position} ({first.external_id}): {first.reason}",
                           file=spec.origin, field="bank")
    report.archived = archive_missing(session, bank, item_source,
                                      {item.external_id for item in spec.items})
    result.items = report


def _apply_project(
    session: Session, applier: _Applier, track: Track, project: Project | None, spec: ProjectSpec
) -> None:
    project = applier.upsert(project, Project, {
        "track_id": track.id, "number": spec.number, "slug": spec.slug, "title": spec.title,
        "type": spec.type, "summary": spec.summary, "tech_stack": list(spec.tech_stack),
        "prerequisites": list(spec.prerequisites),
        "github_template_repo": spec.github_template_repo,
        "estimated_hours": spec.estimated_hours,
    })
    session.flush()
    steps = {
        s.number: s for s in session.scalars(select(Step).where(Step.project_id == project.id))
    }
    for step in spec.steps:
        applier.upsert(steps.get(step.number), Step, {
            "project_id": project.id, "number": step.number, "slug": step.slug,
            "title": step.title, "body_markdown": step.body_markdown,
            "estimated_minutes": step.estimated_minutes,
        })
    applier.archive_missing(steps.values(), {s.number for s in spec.steps}, lambda s: s.number)
    deliverables = {
        d.key: d
        for d in session.scalars(select(Deliverable).where(Deliverable.project_id == project.id))
    }
    for d in spec.deliverables:
        applier.upsert(deliverables.get(d.key), Deliverable, {
            "project_id": project.id, "key": d.key, "title": d.title, "kind": d.kind,
            "required": d.required, "grader": d.grader, "description": d.description,
            "settings": dict(d.settings),
        })
    applier.archive_missing(
        deliverables.values(), {d.key for d in spec.deliverables}, lambda d: d.key
    )


def sync(
    lms: Platform,
    session: Session,
    source_name: str | None = None,
    *,
    on_track: Callable[[TrackSyncResult], None] | None = None,
) -> list[TrackSyncResult]:
    """Sync one source (or all). Each track commits on its own; a failing track is rolled
    back and reported, the others still apply. Tracks a source no longer provides are
    archived once that source was read completely."""
    sources = [lms.content_sources.get(source_name)] if source_name else list(lms.content_sources)
    results: list[TrackSyncResult] = []
    for source in sources:
        seen: set[str] = set()
        complete = True
        try:
            specs = list(source.tracks())
        except ContentError as exc:
            # A source is read whole before anything is applied: report it, apply none of it.
            results.append(TrackSyncResult(code="", source=source.name, error=str(exc)))
            if on_track:
                on_track(results[-1])
            continue
        origins: dict[str, str] = {}
        for spec in specs:
            seen.add(spec.code)
            try:
                if spec.code in origins:  # else the later folder would silently overwrite
                    raise ContentError(f"track code {spec.code} is also used by "
                                       f"{origins[spec.code] or 'another track'}",
                                       file=spec.origin, field="code")
                origins[spec.code] = spec.origin
                result = apply_track(session, spec, source.name, set(lms.graders.names()))
                session.commit()
            except ContentError as exc:
                session.rollback()
                complete = False
                result = TrackSyncResult(code=spec.code, source=source.name, error=str(exc))
            results.append(result)
            if on_track:
                on_track(result)
        if complete:
            archived = _archive_vanished_tracks(session, source.name, seen)
            results.extend(archived)
            session.commit()
    return results


def _archive_vanished_tracks(
    session: Session, source: str, seen: set[str]
) -> list[TrackSyncResult]:
    results = []
    for track in session.scalars(
        select(Track).where(Track.source == source, Track.archived_at.is_(None))
    ):
        if track.code not in seen:
            track.archived_at = utcnow()
            results.append(TrackSyncResult(code=track.code, source=source, archived=1))
    return results


# -- authoring through the API -----------------------------------------------------------------
# Each function checks Action.EDIT_TRACKS, validates everything before writing, and commits;
# ``values`` are already shape-checked by the caller's schema (PATCH: only the fields sent).


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100] or "untitled"


def _field_error(error: type[ValidationFailed] | type[Conflict], field_name: str, message: str):
    return error(message, details={"fields": {field_name: [message]}})


def _api_owned(track: Track) -> Track:
    if track.source:
        raise Conflict(
            f"Track {track.code} comes from the content source {track.source!r}: edit its files "
            "and run `lms content sync` (an edit here would be undone by the next sync).",
            details={"source": track.source},
        )
    return track


def _get(session: Session, model: type, row_id: int, what: str) -> Any:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"No {what} with id {row_id}.")
    return row


def _save(session: Session, row: Any, values: dict[str, Any]) -> Any:
    """Apply ``values`` (``archived`` archives or restores) to ``row`` and commit."""
    values = dict(values)
    archived = values.pop("archived", None)
    if archived is not None and archived != (row.archived_at is not None):
        row.archived_at = utcnow() if archived else None
    _assign(row, values)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request took the same code, number or key
        session.rollback()
        raise Conflict("Another change got there first; reload and try again.") from None
    return row


def create_track(session: Session, actor: User, values: dict[str, Any]) -> Track:
    require(actor, Action.EDIT_TRACKS)
    code = values["code"].upper()
    if session.scalar(select(Track.id).where(Track.code == code)) is not None:
        raise _field_error(Conflict, "code", f"A track with code {code} already exists.")
    return _save(session, Track(source=""), {**values, "code": code})


def _api_track(session: Session, code: str) -> Track:
    track = session.scalar(select(Track).where(Track.code == code.upper()))
    if track is None:
        raise NotFound(f"No track with code {code!r}.")
    return _api_owned(track)


def update_track(session: Session, actor: User, code: str, values: dict[str, Any]) -> Track:
    require(actor, Action.EDIT_TRACKS)
    return _save(session, _api_track(session, code), values)


def _check_project(session: Session, track: Track, project: Project | None,
                   number: int, prerequisites: list[int]) -> None:
    siblings = {
        p.number: p for p in session.scalars(select(Project).where(Project.track_id == track.id))
    }
    clash = siblings.get(number)
    if clash is not None and clash is not project:
        state = " (archived)" if clash.archived_at else ""
        raise _field_error(Conflict, "number",
                           f"Project number {number} is taken by {clash.title!r}{state}.")
    live = {n for n, p in siblings.items() if p.archived_at is None}
    for needed in prerequisites:
        # Progress is computed in number order: a prerequisite must be an earlier project.
        if needed not in live or needed >= number:
            raise _field_error(ValidationFailed, "prerequisites",
                               f"Project {needed} is not an earlier project of {track.code}.")
    if project is not None and project.number != number:
        dependants = [p.number for p in siblings.values() if project.number in p.prerequisites]
        if dependants:
            raise _field_error(
                Conflict, "number",
                f"Projects {', '.join(map(str, dependants))} list project {project.number} as "
                "a prerequisite; change them first.",
            )


def create_project(session: Session, actor: User, code: str, values: dict[str, Any]) -> Project:
    require(actor, Action.EDIT_TRACKS)
    track = _api_track(session, code)
    _check_project(session, track, None, values["number"], values.get("prerequisites", []))
    return _save(session, Project(track_id=track.id),
                 {"slug": slugify(values["title"]), **values})


def update_project(session: Session, actor: User, project_id: int,
                   values: dict[str, Any]) -> Project:
    require(actor, Action.EDIT_TRACKS)
    project = _get(session, Project, project_id, "project")
    _api_owned(project.track)
    _check_project(session, project.track, project, values.get("number", project.number),
                   values.get("prerequisites", project.prerequisites))
    return _save(session, project, values)


def _editable_project(session: Session, project_id: int) -> Project:
    project = _get(session, Project, project_id, "project")
    _api_owned(project.track)
    return project


def _check_step_number(session: Session, project: Project, step: Step | None,
                       number: int) -> None:
    clash = session.scalar(select(Step).where(Step.project_id == project.id,
                                              Step.number == number))
    if clash is not None and clash is not step:
        raise _field_error(Conflict, "number",
                           f"Step number {number} is taken by {clash.title!r}.")


def create_step(session: Session, actor: User, project_id: int, values: dict[str, Any]) -> Step:
    require(actor, Action.EDIT_TRACKS)
    project = _editable_project(session, project_id)
    _check_step_number(session, project, None, values["number"])
    return _save(session, Step(project_id=project.id),
                 {"slug": slugify(values["title"]), **values})


def update_step(session: Session, actor: User, step_id: int, values: dict[str, Any]) -> Step:
    require(actor, Action.EDIT_TRACKS)
    step = _get(session, Step, step_id, "step")
    _editable_project(session, step.project_id)
    _check_step_number(session, step.project, step, values.get("number", step.number))
    return _save(session, step, values)


def _check_deliverable(lms: Platform, session: Session, project: Project,
                       deliverable: Deliverable | None, values: dict[str, Any]) -> None:
    grader = values.get("grader")
    if grader and grader != "manual" and grader not in lms.graders:
        raise _field_error(ValidationFailed, "grader",
                           f"No grader named {grader!r} (available: "
                           f"{', '.join(lms.graders.names()) or 'none'}).")
    key = values.get("key")
    clash = key and session.scalar(select(Deliverable).where(
        Deliverable.project_id == project.id, Deliverable.key == key))
    if clash and clash is not deliverable:
        raise _field_error(Conflict, "key", f"This project already has a deliverable {key!r}.")


def create_deliverable(lms: Platform, session: Session, actor: User, project_id: int,
                       values: dict[str, Any]) -> Deliverable:
    require(actor, Action.EDIT_TRACKS)
    project = _editable_project(session, project_id)
    _check_deliverable(lms, session, project, None, values)
    return _save(session, Deliverable(project_id=project.id), values)


def update_deliverable(lms: Platform, session: Session, actor: User, deliverable_id: int,
                       values: dict[str, Any]) -> Deliverable:
    require(actor, Action.EDIT_TRACKS)
    deliverable = _get(session, Deliverable, deliverable_id, "deliverable")
    project = _editable_project(session, deliverable.project_id)
    _check_deliverable(lms, session, project, deliverable, values)
    return _save(session, deliverable, values)
