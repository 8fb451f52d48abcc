"""Catalogue, projects, enrolment, steps and progress."""

from flask import g, request
from flask_smorest import Blueprint

from .... import current_platform
from ....models import Role
from ....services import auth, content, learning
from ...auth import auth_required, current_user
from .schemas import (
    AdminDeliverableSchema,
    AdminProjectSchema,
    AdminStepSchema,
    AdminTrackSchema,
    DeliverableCreateSchema,
    DeliverableUpdateSchema,
    EnrolmentSchema,
    ProjectCreateSchema,
    ProjectDetailSchema,
    ProjectUpdateSchema,
    StepCompleteSchema,
    StepCreateSchema,
    StepUpdateSchema,
    TrackCreateSchema,
    TrackDetailSchema,
    TrackProgressSchema,
    TrackSchema,
    TrackUpdateSchema,
)

blp = Blueprint("tracks", __name__, url_prefix="/api/v1", description="Tracks and progress")
PUBLIC = {"security": [{}, {"bearerAuth": []}]}


def optional_user():
    """The bearer token's user when one is sent (public endpoints show more to members)."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    lms = current_platform()
    user = auth.user_from_access_token(lms, lms.db.session, token.strip())
    g.lms_api_user = user
    return user


@blp.get("/tracks")
@blp.doc(**PUBLIC)
@blp.response(200, TrackSchema(many=True))
def list_tracks():
    return learning.catalogue(current_platform().db.session)


@blp.get("/tracks/<code>")
@blp.doc(**PUBLIC)
@blp.response(200, TrackDetailSchema)
def get_track(code):
    session = current_platform().db.session
    track = learning.get_track(session, code)
    return {**TrackSchema().dump(track), "projects": learning.live_projects(session, track)}


@blp.get("/projects/<int:project_id>")
@blp.doc(**PUBLIC)
@blp.response(200, ProjectDetailSchema)
def get_project(project_id):
    session = current_platform().db.session
    user = optional_user()
    project = learning.get_project(session, project_id)
    visible = learning.can_see_content(session, user, project.track)
    progress = (
        learning.project_progress(session, user, project)
        if user is not None and user.role in (Role.STUDENT, Role.SUPERADMIN) and visible
        else None
    )
    done = progress.completed_step_ids if progress else set()
    steps = [
        {**_step_fields(step), "completed": step.id in done}
        for step in project.steps if step.archived_at is None
    ] if visible else []
    deliverables = [d for d in project.deliverables if d.archived_at is None] if visible else []
    return {
        "id": project.id, "number": project.number, "slug": project.slug,
        "title": project.title, "type": project.type, "summary": project.summary,
        "tech_stack": project.tech_stack, "prerequisites": project.prerequisites,
        "estimated_hours": project.estimated_hours, "track": project.track,
        "github_template_repo": project.github_template_repo, "content_visible": visible,
        "steps": steps, "deliverables": deliverables, "my_status": progress,
    }


def _step_fields(step):
    return {"id": step.id, "number": step.number, "title": step.title,
            "estimated_minutes": step.estimated_minutes, "body_markdown": step.body_markdown}


@blp.post("/tracks/<code>/enrol")
@blp.response(201, EnrolmentSchema)
@blp.alt_response(402, description="Paid track: the error details carry the checkout")
@auth_required
def enrol(code):
    lms = current_platform()
    return learning.enrol(lms, lms.db.session, current_user(), code)


@blp.get("/enrolments/me")
@blp.response(200, EnrolmentSchema(many=True))
@auth_required
def my_enrolments():
    return learning.my_enrolments(current_platform().db.session, current_user())


@blp.post("/steps/<int:step_id>/complete")
@blp.arguments(StepCompleteSchema)
@blp.response(200, TrackProgressSchema)
@auth_required
def complete_step(data, step_id):
    session = current_platform().db.session
    user = current_user()
    step = learning.complete_step(session, user, step_id, data["time_spent_s"])
    return learning.track_progress(session, user, step.project.track)


@blp.get("/progress/me")
@blp.response(200, TrackProgressSchema(many=True))
@auth_required
def my_progress():
    return learning.my_progress(current_platform().db.session, current_user())


# -- authoring (admins; the service checks Action.EDIT_TRACKS) ---------------------------------


def _authoring(function, *args):
    lms = current_platform()
    return function(lms.db.session, current_user(), *args)


@blp.post("/tracks")
@blp.arguments(TrackCreateSchema)
@blp.response(201, AdminTrackSchema)
@auth_required
def create_track(data):
    return _authoring(content.create_track, data)


@blp.patch("/tracks/<code>")
@blp.arguments(TrackUpdateSchema)
@blp.response(200, AdminTrackSchema)
@auth_required
def update_track(data, code):
    return _authoring(content.update_track, code, data)


@blp.post("/tracks/<code>/projects")
@blp.arguments(ProjectCreateSchema)
@blp.response(201, AdminProjectSchema)
@auth_required
def create_project(data, code):
    return _authoring(content.create_project, code, data)


@blp.patch("/projects/<int:project_id>")
@blp.arguments(ProjectUpdateSchema)
@blp.response(200, AdminProjectSchema)
@auth_required
def update_project(data, project_id):
    return _authoring(content.update_project, project_id, data)


@blp.post("/projects/<int:project_id>/steps")
@blp.arguments(StepCreateSchema)
@blp.response(201, AdminStepSchema)
@auth_required
def create_step(data, project_id):
    return _authoring(content.create_step, project_id, data)


@blp.patch("/steps/<int:step_id>")
@blp.arguments(StepUpdateSchema)
@blp.response(200, AdminStepSchema)
@auth_required
def update_step(data, step_id):
    return _authoring(content.update_step, step_id, data)


@blp.post("/projects/<int:project_id>/deliverables")
@blp.arguments(DeliverableCreateSchema)
@blp.response(201, AdminDeliverableSchema)
@auth_required
def create_deliverable(data, project_id):
    lms = current_platform()
    return content.create_deliverable(lms, lms.db.session, current_user(), project_id, data)


@blp.patch("/deliverables/<int:deliverable_id>")
@blp.arguments(DeliverableUpdateSchema)
@blp.response(200, AdminDeliverableSchema)
@auth_required
def update_deliverable(data, deliverable_id):
    lms = current_platform()
    return content.update_deliverable(lms, lms.db.session, current_user(), deliverable_id, data)
