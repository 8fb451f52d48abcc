"""Notification settings of the signed-in user, one-click unsubscribe, and the delivery log
for admins."""

from flask.views import MethodView
from flask_smorest import Blueprint

from .... import current_platform
from ....services import notifications
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from .schemas import (
    DeliveryArgs,
    DeliverySchema,
    PreferencesSchema,
    PreferencesUpdateSchema,
    UnsubscribeArgs,
    UnsubscribedSchema,
)

blp = Blueprint("notifications", __name__, url_prefix="/api/v1",
                description="Notification settings, unsubscribe and delivery log")


@blp.route("/users/me/notifications")
class MyNotifications(MethodView):
    decorators = [auth_required]

    @blp.response(200, PreferencesSchema)
    def get(self):
        lms = current_platform()
        return {"preferences": notifications.preferences(lms, lms.db.session, current_user())}

    @blp.arguments(PreferencesUpdateSchema)
    @blp.response(200, PreferencesSchema)
    def put(self, data):
        """Change the listed (channel, kind) modes; the others stay as they are."""
        lms = current_platform()
        return {"preferences": notifications.set_preferences(
            lms, lms.db.session, current_user(), data["preferences"])}


@blp.post("/notifications/unsubscribe")
@blp.arguments(UnsubscribeArgs, location="query")
@blp.response(200, UnsubscribedSchema)
def unsubscribe(args):
    """RFC 8058 one-click unsubscribe: the target of emails' List-Unsubscribe header. No
    sign-in: the signed token names the user, channel and kind. Repeating it is harmless."""
    lms = current_platform()
    done = notifications.unsubscribe(lms, lms.db.session, args["token"])
    return {"email": done.user.email, "channel": done.channel, "kind": done.kind}


@blp.get("/admin/notifications/deliveries")
@blp.arguments(DeliveryArgs, location="query")
@blp.arguments(PageArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(DeliverySchema))
@auth_required
def deliveries(args, page, page_size):
    """The delivery log, newest first, filtered by status, channel and kind (each optional)."""
    query = notifications.deliveries_query(current_user(), **args)
    return paginate(current_platform().db.session, query, page, page_size)
