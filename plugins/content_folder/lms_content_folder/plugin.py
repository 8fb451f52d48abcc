"""Hook implementations of the ``content_folder`` plugin."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lmscore import hookimpl

from .source import FolderSource


class ContentFolderSettings(Schema):
    folders = fields.List(fields.String(validate=validate.Length(min=1)),
                          load_default=lambda: ["tracks"], validate=validate.Length(min=1))


@hookimpl
def lms_config_schema():
    return ContentFolderSettings


@hookimpl
def lms_register_content_sources(lms):
    return [FolderSource("content_folder", lms.plugin_config("content_folder")["folders"])]
