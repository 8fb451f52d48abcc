from marshmallow import Schema, fields

from ..schemas import Integer


class BankSchema(Schema):
    code = fields.String()
    name = fields.String()
    track_code = fields.String(allow_none=True)
    items = Integer(metadata={"description": "Live (not archived) items"})
    archived_items = Integer()
    facets = Integer()


class ImportFailureSchema(Schema):
    position = fields.String(metadata={"description": 'e.g. "quiz.gift, line 12"'})
    id = fields.String(attribute="external_id")
    reason = fields.String()


class ImportReportSchema(Schema):
    imported = Integer()
    updated = Integer()
    skipped = Integer()
    failed = fields.List(fields.Nested(ImportFailureSchema))
    warnings = fields.List(fields.String())
