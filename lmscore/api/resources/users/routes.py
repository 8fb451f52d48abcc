from flask.views import MethodView
from flask_smorest import Blueprint

from .... import current_platform
from ....services import learning, users
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from ..schemas import UserDetailSchema
from ..tracks.schemas import WaiverSchema
from .schemas import (
    AdminUserUpdateSchema,
    ProfileUpdateSchema,
    TrainerAssignmentSchema,
    UserListArgs,
    WaiverRequestSchema,
)

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="User accounts")


@blp.route("/me")
class Me(MethodView):
    decorators = [auth_required]

    @blp.response(200, UserDetailSchema)
    def get(self):
        me = current_user()
        return users.get_user(current_platform().db.session, me, me.id)

    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, UserDetailSchema)
    def patch(self, data):
        me = current_user()
        return users.update_user(current_platform().db.session, actor=me, target=me, changes=data)


@blp.route("")
class UserList(MethodView):
    decorators = [auth_required]

    @blp.arguments(UserListArgs, location="query")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, page_of(UserDetailSchema))
    def get(self, filters, page, page_size):
        query = users.users_query(current_user(), **filters)
        return paginate(current_platform().db.session, query, page, page_size)


@blp.route("/<int:user_id>")
class UserItem(MethodView):
    decorators = [auth_required]

    @blp.response(200, UserDetailSchema)
    def get(self, user_id):
        return users.get_user(current_platform().db.session, current_user(), user_id)

    @blp.arguments(AdminUserUpdateSchema)
    @blp.response(200, UserDetailSchema)
    def patch(self, data, user_id):
        session = current_platform().db.session
        actor = current_user()
        target = users.get_user(session, actor, user_id)
        return users.update_user(session, actor=actor, target=target, changes=data)

    @blp.response(204)
    def delete(self, user_id):
        lms = current_platform()
        actor = current_user()
        users.delete_user(lms, lms.db.session, actor, users.get_user(lms.db.session, actor,
                                                                     user_id))


@blp.route("/<int:user_id>/trainer")
class UserTrainer(MethodView):
    decorators = [auth_required]

    @blp.arguments(TrainerAssignmentSchema)
    @blp.response(200, UserDetailSchema)
    def put(self, data, user_id):
        lms = current_platform()
        actor = current_user()
        learner = users.get_user(lms.db.session, actor, user_id)
        return users.assign_trainer(lms, lms.db.session, actor, learner, data["trainer_id"])


@blp.route("/<int:user_id>/waivers/<int:project_id>")
class UserWaiver(MethodView):
    """Prerequisite waivers: the learner's trainer (or an admin) opens a project whose
    prerequisites are not completed, or closes it again."""

    decorators = [auth_required]

    @blp.arguments(WaiverRequestSchema)
    @blp.response(200, WaiverSchema)
    def put(self, data, user_id, project_id):
        session = current_platform().db.session
        actor = current_user()
        learner, project = learning.waiver_subjects(session, actor, user_id, project_id)
        return learning.waive_prerequisites(session, actor, learner, project, data["reason"])

    @blp.response(204)
    def delete(self, user_id, project_id):
        session = current_platform().db.session
        actor = current_user()
        learner, project = learning.waiver_subjects(session, actor, user_id, project_id)
        learning.revoke_waiver(session, actor, learner, project)
