from marshmallow import Schema, fields


class BankSchema(Schema):
    code = fields.String()
    name = fields.String()
    track_code = fields.String(allow_none=True)
    items = fields.Integer(metadata={"description": "Live (not archived) items"})
    archived_items = fields.Integer()
    facets = fields.Integer()


class ImportFailureSchema(Schema):
    position = fields.String(metadata={"description": 'e.g. "quiz.gift, line 12"'})
    id = fields.String(attribute="external_id")
    reason = fields.String()


class ImportReportSchema(Schema):
    imported = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    failed = fields.List(fields.Nested(ImportFailureSchema))
    warnings = fields.List(fields.String())
