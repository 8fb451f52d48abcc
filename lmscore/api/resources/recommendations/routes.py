"""What the signed-in learner should do next, and why."""

from flask_smorest import Blueprint

from .... import current_platform
from ....db import utcnow
from ....services import recommendations
from ...auth import auth_required, current_user
from .schemas import RecommendationArgs, RecommendationListSchema

blp = Blueprint("recommendations", __name__, url_prefix="/api/v1/recommendations",
                description="Recommendations with their reasons")


@blp.get("/me")
@blp.arguments(RecommendationArgs, location="query")
@blp.response(200, RecommendationListSchema)
@auth_required
def mine(args):
    lms = current_platform()
    ranked = recommendations.for_learner(lms, lms.db.session, current_user(), utcnow(),
                                         args.get("limit"))
    return {"items": [r.as_dict() for r in ranked]}
