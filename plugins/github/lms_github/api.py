"""REST endpoints under /api/v1/github: the learner's link, project repositories, and the
webhook GitHub posts to."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from lmscore import current_platform
from lmscore.api import auth_required, current_user
from lmscore.services.permissions import Action, require

from . import service, webhooks

blp = Blueprint("github", __name__, url_prefix="/api/v1/github",
                description="GitHub: account link, project repositories and webhooks")


class GithubAccountSchema(Schema):
    status = fields.String(metadata={"description": "not_connected, connecting, active or "
                                                    "broken (reconnect on the profile page)"})
    login = fields.String(allow_none=True)
    scopes = fields.String(allow_none=True)
    problem = fields.String(allow_none=True)
    connect_url = fields.String(metadata={"description": "the web page to (re)connect on"})


class GithubRepositorySchema(Schema):
    project_id = fields.Integer()
    status = fields.String(metadata={"description": "pending, ready or failed"})
    owner = fields.String()
    name = fields.String()
    html_url = fields.String(allow_none=True)
    problem = fields.String(allow_none=True)


class GithubDeliveryOutcomeSchema(Schema):
    outcome = fields.String()


@blp.route("/account")
class Account(MethodView):
    decorators = [auth_required]

    @blp.response(200, GithubAccountSchema)
    def get(self):
        lms = current_platform()
        user = current_user()
        require(user, Action.OWN_PROFILE)
        account = service.account_of(lms.db.session, user.id)
        connect_url = lms.settings.base_url.rstrip("/") + "/profile#github"
        if account is None:
            return {"status": "not_connected", "connect_url": connect_url}
        return {"status": account.status, "login": account.login, "scopes": account.scopes,
                "problem": account.problem, "connect_url": connect_url}

    @blp.response(204)
    def delete(self):
        service.disconnect(current_platform().db.session, current_user())


@blp.route("/projects/<int:project_id>/repository")
class ProjectRepository(MethodView):
    decorators = [auth_required]

    @blp.response(200, GithubRepositorySchema)
    def get(self, project_id):
        return service.visible_repository(current_platform().db.session, current_user(),
                                          project_id)

    @blp.response(202, GithubRepositorySchema)
    def post(self, project_id):
        """Start the project: the learner's repository is created from the template by a
        background job (poll GET until ``ready`` or ``failed``)."""
        lms = current_platform()
        return service.start_project(lms, lms.db.session, current_user(), project_id)


@blp.post("/webhook")
@blp.doc(security=[])
@blp.response(200, GithubDeliveryOutcomeSchema)
def webhook():
    """GitHub's deliveries, signed with the webhook secret (``X-Hub-Signature-256``)."""
    lms = current_platform()
    outcome = webhooks.receive(
        lms, lms.db.session, body=request.get_data(cache=False),
        signature=request.headers.get("X-Hub-Signature-256"),
        event=request.headers.get("X-GitHub-Event"),
        delivery_id=request.headers.get("X-GitHub-Delivery"))
    return {"outcome": outcome}
