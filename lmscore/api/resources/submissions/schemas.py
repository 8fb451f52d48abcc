from marshmallow import Schema, fields, validate

from ....markdown import render
from ....models import ReviewDecision, SubmissionStatus
from ..schemas import Integer, Text


class SubmissionCreateSchema(Schema):
    deliverable_id = Integer(required=True, validate=validate.Range(min=1))
    text = Text(validate=validate.Length(max=200_000))
    url = Text(validate=validate.Length(max=2000))
    draft = fields.Boolean(load_default=False)


class ReviewSchema(Schema):
    id = Integer(dump_only=True)
    reviewer_id = Integer(dump_only=True, allow_none=True)
    decision = fields.String(dump_only=True)
    feedback_markdown = fields.String(dump_only=True)
    feedback_html = fields.Function(lambda r: str(render(r.feedback_markdown)), dump_only=True)
    score = fields.Float(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class ReviewCreateSchema(Schema):
    decision = fields.String(required=True,
                             validate=validate.OneOf([d.value for d in ReviewDecision]))
    feedback = Text(load_default="", validate=validate.Length(max=200_000))
    score = fields.Float(load_default=None, allow_none=True,
                         validate=validate.Range(min=0, max=100))


class SubmissionSchema(Schema):
    id = Integer()
    user_id = Integer()
    deliverable_id = Integer()
    deliverable_title = fields.Function(lambda s: s.deliverable.title)
    project_id = fields.Function(lambda s: s.deliverable.project_id)
    attempt = Integer()
    status = fields.String()
    text = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    file_name = fields.String(allow_none=True)
    file_size = Integer(allow_none=True)
    score = fields.Float(allow_none=True)
    auto_grade = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)


class SubmissionDetailSchema(SubmissionSchema):
    #: The learner's text rendered like any Markdown: sanitised, safe to insert as HTML.
    text_html = fields.Function(lambda s: str(render(s.text)) if s.text else None)
    reviews = fields.List(fields.Nested(ReviewSchema))


class SubmissionListArgs(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in SubmissionStatus]))
