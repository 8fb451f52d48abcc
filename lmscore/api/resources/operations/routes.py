"""Admin views of the running system: plugins and failed jobs."""

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from .... import current_platform
from ....models import JobFailure
from ....services.operations import plugin_overview
from ....services.permissions import Action, require
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate

blp = Blueprint("operations", __name__, url_prefix="/api/v1/admin",
                description="Plugins and background jobs (admins)")


class PluginSchema(Schema):
    id = fields.String()
    distribution = fields.String()
    version = fields.String()
    enabled = fields.Boolean()
    hooks = fields.List(fields.String())
    provides = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    error = fields.String()


class JobFailureSchema(Schema):
    id = fields.Integer()
    actor = fields.String()
    message_id = fields.String()
    kwargs = fields.Dict()
    retries = fields.Integer()
    error = fields.String()
    traceback = fields.String()
    failed_at = fields.DateTime()


@blp.get("/plugins")
@blp.response(200, PluginSchema(many=True))
@auth_required
def plugins():
    require(current_user(), Action.VIEW_OPERATIONS)
    return plugin_overview(current_platform())


@blp.get("/jobs/failures")
@blp.arguments(PageArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(JobFailureSchema))
@auth_required
def job_failures(page, page_size):
    require(current_user(), Action.VIEW_OPERATIONS)
    query = select(JobFailure).order_by(JobFailure.id.desc())
    return paginate(current_platform().db.session, query, page, page_size)
