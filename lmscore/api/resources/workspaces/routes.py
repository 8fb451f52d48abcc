"""Workspaces: launch and stop answer 202 (a job does the work); clients poll ``/me``."""

from flask_smorest import Blueprint

from .... import current_platform
from ....services import workspaces
from ...auth import auth_required, current_user
from .schemas import AdminListArgs, AdminWorkspaceSchema, LaunchSchema, WorkspaceSchema

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1",
                description="Per-learner workspaces (IDEs) per track")


@blp.post("/workspaces")
@blp.arguments(LaunchSchema)
@blp.response(202, WorkspaceSchema)
@auth_required
def launch(data):
    lms = current_platform()
    row = workspaces.launch(lms, lms.db.session, current_user(), data["track"])
    return workspaces.summary(lms, row)


@blp.get("/workspaces")
@blp.arguments(AdminListArgs, location="query")
@blp.response(200, AdminWorkspaceSchema(many=True))
@auth_required
def list_all(args):
    lms = current_platform()
    rows = workspaces.all_workspaces(lms.db.session, current_user(), args.get("status"))
    return [workspaces.admin_summary(lms, row) for row in rows]


@blp.get("/workspaces/me")
@blp.response(200, WorkspaceSchema(many=True))
@auth_required
def mine():
    lms = current_platform()
    return [workspaces.summary(lms, row)
            for row in workspaces.my_workspaces(lms.db.session, current_user())]


@blp.post("/workspaces/<int:workspace_id>/stop")
@blp.response(202, WorkspaceSchema)
@auth_required
def stop(workspace_id):
    lms = current_platform()
    row = workspaces.stop(lms, lms.db.session, current_user(), workspace_id)
    return workspaces.summary(lms, row)


@blp.delete("/workspaces/<int:workspace_id>")
@blp.response(204)
@auth_required
def delete(workspace_id):
    lms = current_platform()
    workspaces.delete(lms, lms.db.session, current_user(), workspace_id)
