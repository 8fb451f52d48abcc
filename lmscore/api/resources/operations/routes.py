"""Admin views of the running system: plugins and failed jobs."""

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .... import current_platform
from ....services.operations import job_failures_query, plugins_for
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from ..schemas import Integer

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
    id = Integer()
    actor = fields.String()
    message_id = fields.String()
    kwargs = fields.Dict()
    retries = Integer()
    error = fields.String()
    traceback = fields.String()
    failed_at = fields.DateTime()


@blp.get("/plugins")
@blp.response(200, PluginSchema(many=True))
@auth_required
def plugins():
    return plugins_for(current_platform(), current_user())


@blp.get("/jobs/failures")
@blp.arguments(PageArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(JobFailureSchema))
@auth_required
def job_failures(page, page_size):
    return paginate(current_platform().db.session, job_failures_query(current_user()), page,
                    page_size)
