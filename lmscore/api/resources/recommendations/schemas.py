from marshmallow import Schema, fields, validate

from ....capabilities import RecommendationKind
from ..schemas import Integer


class RecommendationArgs(Schema):
    limit = Integer(validate=validate.Range(min=1, max=50))


class RecommendationSchema(Schema):
    kind = fields.String(metadata={"enum": [k.value for k in RecommendationKind]})
    target = fields.String(metadata={"description": "what is recommended, e.g. step:12"})
    title = fields.String()
    url = fields.String(allow_none=True)
    score = fields.Float(metadata={"description": "provider score × provider weight"})
    provider = fields.String()
    provider_score = fields.Float()
    weight = fields.Float()
    reason = fields.String(metadata={"description": "why you are seeing this"})
    evidence = fields.Dict(metadata={"description": "the numbers behind the reason"})
    also_from = fields.List(fields.String())


class RecommendationListSchema(Schema):
    items = fields.List(fields.Nested(RecommendationSchema))
