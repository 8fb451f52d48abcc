"""Spaced-repetition review sessions."""

import orjson
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .... import current_platform
from ....db import utcnow
from ....services import reviews
from ...auth import accept_user, auth_required, claims_required, current_user
from ...transactions import read_only
from ..schemas import Integer, Text

blp = Blueprint("reviews", __name__, url_prefix="/api/v1/reviews",
                description="Spaced-repetition reviews")


class NextArgs(Schema):
    bank = Text(required=True, validate=validate.Length(min=1, max=32))
    limit = Integer(load_default=10, validate=validate.Range(min=1, max=100))


class ReviewItemSchema(Schema):
    """An item as a learner sees it before answering: never the answer."""

    id = Integer()
    type = fields.String()
    prompt = fields.String()
    options = fields.Dict(keys=fields.String(), values=fields.String())
    difficulty = Integer()
    tags = fields.List(fields.String())
    facet = Text(metadata={"description": "the facet's path, topic/subtopic/leaf/facet"})


class NextSchema(Schema):
    bank = fields.String()
    items = fields.List(fields.Nested(ReviewItemSchema))


def next_items_body(bank_code: str, items: list[dict]) -> bytes:
    """The response of ``next_items``, whose items hold exactly ``ReviewItemSchema``'s fields,
    JSON-ready: the hottest read encodes them with orjson instead of dumping them through
    marshmallow (about a third of the request's CPU time). The schema still documents the
    response, and a test holds both to the same output."""
    return orjson.dumps({"bank": bank_code, "items": items})


class AnswerSchema(Schema):
    item_id = Integer(required=True, validate=validate.Range(min=1))
    client_attempt_id = Text(required=True, validate=validate.Length(min=8, max=64))
    rating = fields.String(validate=validate.OneOf(["again", "hard", "good", "easy"]))
    selected = fields.List(Text(validate=validate.Length(max=10)),
                           validate=validate.Length(max=10))
    text = Text(validate=validate.Length(max=10_000))
    value = fields.Float(allow_nan=False)
    elapsed_ms = Integer(validate=validate.Range(min=0, max=86_400_000))

    @validates_schema
    def rating_or_answer(self, data, **_):
        answered = any(k in data for k in ("selected", "text", "value"))
        if ("rating" in data) == answered:
            raise ValidationError("Send either a rating or an answer (selected, text or value).",
                                  field_name="rating")


class ReviewResultSchema(Schema):
    item_id = Integer()
    correct = fields.Boolean(allow_none=True)
    rating = fields.String()
    due_at = fields.String()
    interval_days = fields.Float()
    state = fields.Dict()
    feedback = fields.String()
    explanation = fields.String()
    answer = fields.Raw()


class PreviewArgs(Schema):
    item_id = Integer(required=True, validate=validate.Range(min=1))


class StatsArgs(Schema):
    bank = Text(required=True, validate=validate.Length(min=1, max=32))


@blp.get("/next")
# An instance: webargs would build a schema class anew on every request.
@blp.arguments(NextArgs(), location="query")
@blp.response(200, NextSchema)
@blp.alt_response(204, description="Nothing is due and no new items are left for today")
@read_only
@claims_required
def next_items(args, claims):
    lms = current_platform()
    found, items = reviews.next_items_with_access(lms, lms.db.session, claims.user_id,
                                                  args["bank"], args["limit"], utcnow())
    bank = reviews.bank_access(accept_user(claims, found.learner), found)
    if not items:
        return "", 204
    return current_app.response_class(next_items_body(bank.code, items),
                                      mimetype="application/json")


@blp.post("")
@blp.arguments(AnswerSchema)
@blp.response(200, ReviewResultSchema)
@auth_required
def answer(data):
    """Review one item: send the learner's own ``rating``, or an answer that is graded.

    Answers go in the field the item's type takes: ``selected`` (option keys) for
    ``mcq_single`` and ``mcq_multi``, ``value`` for ``numeric``, ``text`` for the others;
    ``theory`` and ``scenario`` items are rated, never graded. An answer in another field is
    refused (422 naming the right one), not graded wrong. A wrong answer rates ``again``; a
    right one ``good``, or ``easy`` when ``elapsed_ms`` is under ``reviews.easy_under_ms``.
    Retrying with the same ``client_attempt_id`` returns the first result and changes
    nothing."""
    lms = current_platform()
    payload = reviews.ReviewInput(
        item_id=data["item_id"], client_attempt_id=data["client_attempt_id"],
        rating=data.get("rating"), selected=tuple(data.get("selected", ())),
        text=data.get("text"), value=data.get("value"), elapsed_ms=data.get("elapsed_ms"),
    )
    return reviews.answer(lms, lms.db.session, current_user(), payload, utcnow())


@blp.get("/preview")
@blp.arguments(PreviewArgs, location="query")
@blp.response(200)
@auth_required
def preview(args):
    lms = current_platform()
    return reviews.preview(lms, lms.db.session, current_user(), args["item_id"], utcnow())


@blp.get("/stats")
@blp.arguments(StatsArgs, location="query")
@blp.response(200)
@auth_required
def stats(args):
    lms = current_platform()
    bank = reviews.get_bank(lms.db.session, current_user(), args["bank"])
    return reviews.stats(lms, lms.db.session, current_user(), bank, utcnow())
