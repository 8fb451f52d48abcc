from marshmallow import Schema, fields, validate
from marshmallow.utils import get_value

from ....markdown import render
from ....models import DeliverableKind, ProjectType
from ..schemas import Integer, Text

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,99}$", error="Use lower-case letters, digits and -.")
TITLE = validate.Length(min=1, max=200)
LONG_TEXT = validate.Length(max=200_000)
KEY = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Lower-case letters, digits, _ and -.")
KIND = validate.OneOf([k.value for k in DeliverableKind])


def _archived(row) -> bool:
    return row.archived_at is not None


class ProjectSummarySchema(Schema):
    id = Integer()
    number = Integer()
    slug = fields.String()
    title = fields.String()
    type = fields.String()
    summary = fields.String()
    tech_stack = fields.List(fields.String())
    prerequisites = fields.List(Integer())
    estimated_hours = Integer(allow_none=True)


class TrackSchema(Schema):
    code = fields.String()
    name = fields.String()
    description = fields.String()
    duration_weeks = Integer(allow_none=True)
    price_minor = Integer()
    currency = fields.String()
    #: The content source that owns the track; "" when it was created through the API.
    source = fields.String()


class TrackDetailSchema(TrackSchema):
    projects = fields.List(fields.Nested(ProjectSummarySchema))


class StepSchema(Schema):
    id = Integer()
    number = Integer()
    title = fields.String()
    estimated_minutes = Integer(allow_none=True)
    body_markdown = fields.String()
    body_html = fields.Function(lambda step: str(render(get_value(step, "body_markdown"))))
    completed = fields.Boolean()


class DeliverableSchema(Schema):
    id = Integer()
    key = fields.String()
    title = fields.String()
    kind = fields.String()
    required = fields.Boolean()
    grader = fields.String(allow_none=True)
    description = fields.String()


class MyProjectStatusSchema(Schema):
    status = fields.String()
    percent = Integer()
    steps_done = Integer()
    steps_total = Integer()
    time_spent_s = Integer()


class ProjectDetailSchema(ProjectSummarySchema):
    track_code = fields.Function(lambda p: p["track"].code)
    github_template_repo = fields.String(allow_none=True)
    content_visible = fields.Boolean()
    steps = fields.List(fields.Nested(StepSchema))
    deliverables = fields.List(fields.Nested(DeliverableSchema))
    my_status = fields.Nested(MyProjectStatusSchema, allow_none=True)


class EnrolmentSchema(Schema):
    id = Integer()
    track_code = fields.Function(lambda e: e.track.code)
    track_name = fields.Function(lambda e: e.track.name)
    status = fields.String()
    created_at = fields.DateTime()
    activated_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class StepCompleteSchema(Schema):
    time_spent_s = Integer(load_default=0, validate=validate.Range(min=0, max=604_800))


class WaiverGranterSchema(Schema):
    id = Integer()
    name = fields.String()


class WaiverSchema(Schema):
    """A prerequisite waiver: who opened the project (None: the system, e.g. a plugin's
    automatic rule), from where ("trainer" or a plugin id) and why."""

    user_id = Integer()
    project_id = Integer()
    source = fields.String()
    reason = fields.String()
    granted_by = fields.Nested(WaiverGranterSchema, allow_none=True)
    created_at = fields.DateTime()


class ProjectProgressSchema(MyProjectStatusSchema):
    project_id = fields.Function(lambda p: p.project.id)
    number = fields.Function(lambda p: p.project.number)
    title = fields.Function(lambda p: p.project.title)
    #: Set when a waiver opens the project although a prerequisite is not completed.
    unlocked_by = fields.Nested(WaiverSchema, allow_none=True)


class TrackProgressSchema(Schema):
    track_code = fields.Function(lambda t: t.track.code)
    track_name = fields.Function(lambda t: t.track.name)
    enrolment_status = fields.Function(lambda t: t.enrolment.status if t.enrolment else None)
    percent = Integer()
    completed = fields.Boolean()
    time_spent_s = Integer()
    projects = fields.List(fields.Nested(ProjectProgressSchema))


# -- authoring (admins) ------------------------------------------------------------------------
# An update schema lists the editable fields, none required (PATCH sends only what changes);
# its create schema makes the identifying ones required and drops ``archived``.


class TrackUpdateSchema(Schema):
    name = Text(validate=TITLE)
    description = Text(validate=validate.Length(max=20_000))
    duration_weeks = Integer(allow_none=True, validate=validate.Range(min=1, max=520))
    price_minor = Integer(validate=validate.Range(min=0, max=100_000_000))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="e.g. EUR"))
    archived = fields.Boolean()


class TrackCreateSchema(TrackUpdateSchema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z][A-Za-z0-9]{1,15}$", error="2-16 letters and digits, starting with a letter."
    ))
    name = Text(required=True, validate=TITLE)

    class Meta:
        exclude = ("archived",)


class AdminTrackSchema(TrackSchema):
    archived = fields.Function(_archived)


class ProjectUpdateSchema(Schema):
    number = Integer(validate=validate.Range(min=1, max=999))
    title = Text(validate=TITLE)
    slug = fields.String(validate=SLUG)
    type = fields.String(validate=validate.OneOf([t.value for t in ProjectType]))
    summary = Text(validate=validate.Length(max=20_000))
    tech_stack = fields.List(Text(validate=validate.Length(min=1, max=50)),
                             validate=validate.Length(max=30))
    prerequisites = fields.List(Integer(validate=validate.Range(min=1)),
                                validate=validate.Length(max=50))
    github_template_repo = fields.String(allow_none=True, validate=validate.Regexp(
        r"^[\w.-]+/[\w.-]+$", error="owner/repository"
    ))
    estimated_hours = Integer(allow_none=True, validate=validate.Range(min=1, max=1000))
    archived = fields.Boolean()


class ProjectCreateSchema(ProjectUpdateSchema):
    number = Integer(required=True, validate=validate.Range(min=1, max=999))
    title = Text(required=True, validate=TITLE)

    class Meta:
        exclude = ("archived",)


class AdminProjectSchema(ProjectSummarySchema):
    track_code = fields.Function(lambda p: p.track.code)
    github_template_repo = fields.String(allow_none=True)
    archived = fields.Function(_archived)


class StepUpdateSchema(Schema):
    number = Integer(validate=validate.Range(min=1, max=999))
    title = Text(validate=TITLE)
    slug = fields.String(validate=SLUG)
    body_markdown = Text(validate=LONG_TEXT)
    estimated_minutes = Integer(allow_none=True, validate=validate.Range(min=1, max=6000))
    archived = fields.Boolean()


class StepCreateSchema(StepUpdateSchema):
    number = Integer(required=True, validate=validate.Range(min=1, max=999))
    title = Text(required=True, validate=TITLE)
    body_markdown = Text(required=True, validate=validate.Length(min=1, max=200_000))

    class Meta:
        exclude = ("archived",)


class AdminStepSchema(StepSchema):
    project_id = Integer()
    slug = fields.String()
    archived = fields.Function(_archived)

    class Meta:
        exclude = ("completed",)


class DeliverableUpdateSchema(Schema):
    key = fields.String(validate=KEY)
    title = Text(validate=TITLE)
    kind = fields.String(validate=KIND)
    required = fields.Boolean()
    grader = Text(allow_none=True, validate=validate.Length(min=1, max=64))
    description = Text(validate=validate.Length(max=20_000))
    settings = fields.Dict(keys=Text())
    archived = fields.Boolean()


class DeliverableCreateSchema(DeliverableUpdateSchema):
    key = fields.String(required=True, validate=KEY)
    title = Text(required=True, validate=TITLE)
    kind = fields.String(required=True, validate=KIND)

    class Meta:
        exclude = ("archived",)


class AdminDeliverableSchema(DeliverableSchema):
    project_id = Integer()
    settings = fields.Dict()
    archived = fields.Function(_archived)
