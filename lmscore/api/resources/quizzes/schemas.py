from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ....db import MAX_ID
from ....models import FeedbackTiming, QuizStatus
from ....models.banks import ITEM_TYPES
from ..schemas import Integer, Text

#: The most questions (written, and bank items) one quiz holds.
MAX_QUESTIONS = 200


class QuestionInSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES))
    prompt = Text(required=True, validate=validate.Length(min=1, max=10_000))
    options = fields.Dict(keys=Text(validate=validate.Length(min=1, max=10)),
                          values=Text(validate=validate.Length(min=1, max=2000)),
                          load_default=dict)
    answer = fields.Raw(required=True)
    explanation = Text(load_default="", validate=validate.Length(max=10_000))
    points = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=100))
    grader = Text(load_default=None, allow_none=True)


class DrawSchema(Schema):
    banks = fields.List(Text(validate=validate.Length(min=1, max=32)), required=True,
                        validate=validate.Length(min=1, max=20))
    facets = fields.List(Text(validate=validate.Length(min=1, max=420)),
                         load_default=list)
    count = Integer(required=True, validate=validate.Range(min=1, max=200))


class QuizSettingsSchema(Schema):
    title = Text(validate=validate.Length(min=1, max=200))
    description = Text(validate=validate.Length(max=20_000))
    track = Text(allow_none=True, validate=validate.Length(min=1, max=16))
    time_limit_s = Integer(allow_none=True, validate=validate.Range(min=30, max=86_400))
    attempts_allowed = Integer(allow_none=True, validate=validate.Range(min=1, max=100))
    shuffle_questions = fields.Boolean()
    shuffle_options = fields.Boolean()
    pass_mark = fields.Float(validate=validate.Range(min=0, max=100))
    feedback_timing = fields.String(validate=validate.OneOf([f.value for f in FeedbackTiming]))
    available_from = fields.AwareDateTime(allow_none=True)
    available_until = fields.AwareDateTime(allow_none=True)
    draw = fields.Nested(DrawSchema, allow_none=True)
    questions = fields.List(fields.Nested(QuestionInSchema),
                            validate=validate.Length(max=MAX_QUESTIONS))
    item_ids = fields.List(Integer(validate=validate.Range(min=1, max=MAX_ID)),
                           validate=validate.Length(max=MAX_QUESTIONS))


class QuizCreateSchema(QuizSettingsSchema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))


class QuizUpdateSchema(QuizSettingsSchema):
    status = fields.String(validate=validate.OneOf([s.value for s in QuizStatus]))


class GenerateSchema(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    prompt = Text(load_default="", validate=validate.Length(max=5000))
    num_questions = Integer(required=True, validate=validate.Range(min=1, max=1000))
    generator = Text(load_default=None, allow_none=True)
    types = fields.List(fields.String(validate=validate.OneOf(["mcq_single", "mcq_multi"])),
                        load_default=lambda: ["mcq_single"], validate=validate.Length(min=1))
    difficulty = Integer(load_default=3, validate=validate.Range(min=1, max=5))
    track = Text(load_default=None, allow_none=True)


class QuestionOutSchema(Schema):
    """A quiz question for staff (with the answer)."""

    id = Integer()
    position = Integer()
    item_id = Integer(allow_none=True)
    type = fields.String()
    prompt = fields.String()
    options = fields.Dict()
    answer = fields.Raw()
    explanation = fields.String()
    points = fields.Float()
    grader = fields.String(allow_none=True)


class QuizSchema(Schema):
    id = Integer()
    title = fields.String()
    description = fields.String()
    track_code = fields.String(allow_none=True)
    owner_id = Integer(allow_none=True)
    status = fields.String()
    time_limit_s = Integer(allow_none=True)
    attempts_allowed = Integer(allow_none=True)
    shuffle_questions = fields.Boolean()
    shuffle_options = fields.Boolean()
    pass_mark = fields.Float()
    feedback_timing = fields.String()
    available_from = fields.DateTime(allow_none=True)
    available_until = fields.DateTime(allow_none=True)
    draw = fields.Dict(allow_none=True)
    generator = fields.String(allow_none=True)
    generation_status = fields.String(allow_none=True)
    generation_error = fields.String(allow_none=True)
    question_count = Integer()
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)


class QuizDetailSchema(QuizSchema):
    questions = fields.List(fields.Nested(QuestionOutSchema))


class AttemptQuestionSchema(Schema):
    id = Integer()
    position = Integer()
    type = fields.String()
    prompt = fields.String()
    options = fields.Method("ordered_options")
    selected = fields.List(fields.String(), allow_none=True)
    text = fields.String(allow_none=True)
    value = fields.Float(allow_none=True)
    saved_at = fields.DateTime(allow_none=True)
    points = fields.Float()
    # Shown only once the attempt may reveal results (see quizzes.reveal).
    score = fields.Float(allow_none=True)
    correct = fields.Boolean(allow_none=True)
    feedback = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True, metadata={
        "description": "the grader's own detail, e.g. the code grader's per-test results "
                       "({tests: [{name, passed, points, max_points, message}], limit_hit})"})
    explanation = fields.String(allow_none=True)
    answer = fields.Raw(allow_none=True)
    needs_manual_review = fields.Boolean()

    def ordered_options(self, question):
        options = question["options"]
        return [{"key": key, "text": options[key]} for key in question["option_order"]]


class AttemptSchema(Schema):
    id = Integer()
    quiz_id = Integer()
    user_id = Integer()
    number = Integer()
    status = fields.String()
    started_at = fields.DateTime()
    deadline_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    score = fields.Float(allow_none=True)
    max_score = fields.Float(allow_none=True)
    percent = fields.Float(allow_none=True)
    passed = fields.Boolean(allow_none=True)
    pending_review = fields.Boolean()


class AttemptDetailSchema(AttemptSchema):
    questions = fields.List(fields.Nested(AttemptQuestionSchema))


class AnswerSaveSchema(Schema):
    selected = fields.List(Text(validate=validate.Length(min=1, max=10)),
                           validate=validate.Length(max=10))
    text = Text(validate=validate.Length(max=20_000))
    value = fields.Float(allow_nan=False)

    @validates_schema
    def one_kind(self, data, **_):
        if len(data) != 1:
            raise ValidationError("Send exactly one of selected, text or value.",
                                  field_name="_schema")


class SavedAnswerSchema(Schema):
    question_id = Integer()
    saved_at = fields.DateTime()
    correct = fields.Boolean(allow_none=True)
    feedback = fields.String(allow_none=True)


class ManualGradeSchema(Schema):
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100))
    feedback = Text(load_default="", validate=validate.Length(max=20_000))


class QuizListArgs(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in QuizStatus]))
    track = Text(validate=validate.Length(min=1, max=16))


class AttemptListArgs(Schema):
    quiz_id = Integer(validate=validate.Range(min=1))
