"""Question banks: the list with item counts (staff) and file imports (admins)."""

from flask import request
from flask_smorest import Blueprint

from .... import current_platform
from ....importers import FORMATS
from ....importers.service import list_banks, upload
from ...auth import auth_required, current_user
from .schemas import BankSchema, ImportReportSchema

blp = Blueprint("banks", __name__, url_prefix="/api/v1/banks",
                description="Question banks and their imports")

UPLOAD_BODY = {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "A JSON bank, Moodle GIFT (.gift/.txt) or XML, or Anki .apkg"},
        "format": {"type": "string", "enum": ["auto", *FORMATS], "default": "auto"},
        "name": {"type": "string", "description": "The bank's name (created if new)"},
    }}}}}


@blp.get("")
@blp.response(200, BankSchema(many=True))
@auth_required
def get_banks():
    return list_banks(current_platform().db.session, current_user())


@blp.post("/<code>/import")
@blp.doc(requestBody=UPLOAD_BODY)
@blp.response(200, ImportReportSchema)
@blp.alt_response(422, description="The file cannot be read at all; the message says why")
@auth_required
def import_file(code):
    file = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    return upload(current_platform().db.session, current_user(), code,
                  (file.stream, file.filename or "") if file else None,
                  fmt=request.form.get("format", "auto"), name=request.form.get("name") or None)
