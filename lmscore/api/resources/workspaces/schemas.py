from marshmallow import Schema, fields, validate

from ....capabilities.workspaces import WorkspaceStatus
from ..schemas import Integer, Text


class LaunchSchema(Schema):
    track = Text(required=True, validate=validate.Length(min=1, max=16))


class AdminListArgs(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in WorkspaceStatus]))


class WorkspaceSchema(Schema):
    id = Integer()
    track_code = fields.String()
    status = fields.String()
    reason = fields.String()
    message = fields.String()
    url = fields.String(allow_none=True)
    profile = fields.String()
    last_activity_at = fields.AwareDateTime(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    stopped_at = fields.AwareDateTime(allow_none=True)
    status_changed_at = fields.AwareDateTime()


class AdminWorkspaceSchema(WorkspaceSchema):
    user_id = Integer()
    user_email = fields.String()
    backend = fields.String()
    engine_ref = fields.String()
    resources = fields.Dict()
