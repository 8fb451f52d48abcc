"""Outgoing email: console (default), file (one .eml per message) or SMTP.

SMTP verifies the server's certificate (the system CAs, or ``email.smtp_ca_file``) whether the
connection starts with implicit TLS (``smtp_ssl``) or is upgraded with STARTTLS (before any
login)."""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from .config import EmailSettings

log = logging.getLogger(__name__)
SEND_JOB = "lmscore.send_email"


class Mailer:
    def __init__(self, settings: EmailSettings):
        self.settings = settings

    def build(
        self, to: str, subject: str, text: str, html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="lmscore")
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    def send(
        self, to: str, subject: str, text: str, html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        msg = self.build(to, subject, text, html, headers)
        backend = self.settings.backend
        if backend == "console":
            log.warning("email to %s: %s\n%s", to, subject, text)
        elif backend == "file":
            folder = Path(self.settings.file_dir)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(msg))
        else:
            self._send_smtp(msg)

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checked; a site CA bundle when one is configured."""
        return ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)

    def _send_smtp(self, msg: EmailMessage) -> None:
        s = self.settings
        if s.smtp_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=self.tls_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        with smtp:
            if s.smtp_starttls and not s.smtp_ssl:
                # Raises when the server does not offer STARTTLS: never fall back to plain text.
                smtp.starttls(context=self.tls_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(msg)
