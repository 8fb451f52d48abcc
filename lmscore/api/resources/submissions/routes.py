"""Submissions (JSON, or multipart with a file) and trainer review."""

from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from .... import current_platform
from ....errors import ValidationFailed
from ....services import submissions
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from .schemas import (
    ReviewCreateSchema,
    ReviewSchema,
    SubmissionCreateSchema,
    SubmissionDetailSchema,
    SubmissionListArgs,
    SubmissionSchema,
)

blp = Blueprint("submissions", __name__, url_prefix="/api/v1/submissions",
                description="Work submitted for deliverables, and its review")


def _submission_input():
    """JSON body, or multipart form fields plus an optional ``file`` part."""
    if request.mimetype == "multipart/form-data":
        raw = {k: v for k, v in request.form.items()}
        upload = request.files.get("file")
        if upload is not None and not upload.filename:  # a form's empty file input
            upload = None
    else:
        raw = request.get_json(silent=True)
        if not isinstance(raw, dict):
            raise ValidationFailed("Send a JSON object or a multipart form.",
                                   details={"fields": {"_body": ["expected an object"]}})
        upload = None
    try:
        data = SubmissionCreateSchema().load(raw)
    except ValidationError as exc:
        # A form may carry odd field names (even none): keys as text, so they sort and dump.
        fields = {str(name): problems for name, problems in exc.messages.items()}
        raise ValidationFailed("Invalid input: " + ", ".join(sorted(fields)) + ".",
                               details={"fields": fields}) from None
    file = (upload.stream, upload.filename or "") if upload else None
    return submissions.SubmissionInput(**data), file


@blp.route("")
class SubmissionCollection(MethodView):
    decorators = [auth_required]

    @blp.arguments(SubmissionListArgs, location="query")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, page_of(SubmissionSchema))
    def get(self, filters, page, page_size):
        query = submissions.visible_query(current_user(), **filters)
        return paginate(current_platform().db.session, query, page, page_size)

    @blp.doc(requestBody={"content": {
        "application/json": {"schema": SubmissionCreateSchema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "deliverable_id": {"type": "integer"}, "text": {"type": "string"},
            "url": {"type": "string"}, "draft": {"type": "boolean"},
            "file": {"type": "string", "format": "binary"}}}},
    }})
    @blp.response(201, SubmissionSchema)
    def post(self):
        lms = current_platform()
        data, upload = _submission_input()
        return submissions.create(lms, lms.db.session, current_user(), data, upload)


@blp.get("/<int:submission_id>")
@blp.response(200, SubmissionDetailSchema)
@auth_required
def get_submission(submission_id):
    return submissions.get_visible(current_platform().db.session, current_user(), submission_id)


@blp.get("/<int:submission_id>/file")
@blp.response(200, description="The uploaded file, as an attachment")
@auth_required
def get_submission_file(submission_id):
    lms = current_platform()
    submission = submissions.with_file(lms, lms.db.session, current_user(), submission_id)
    return send_file(lms.files.path(submission.file_key), as_attachment=True,
                     download_name=submission.file_name, mimetype=submission.file_type)


@blp.post("/<int:submission_id>/review")
@blp.arguments(ReviewCreateSchema)
@blp.response(201, ReviewSchema)
@auth_required
def review_submission(data, submission_id):
    return submissions.review(current_platform().db.session, current_user(), submission_id,
                              decision=data["decision"], feedback=data["feedback"],
                              score=data["score"])
