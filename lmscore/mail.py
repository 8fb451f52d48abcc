"""Outgoing email: console (default), file (one .eml per message) or SMTP."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from .config import EmailSettings

log = logging.getLogger(__name__)
SEND_JOB = "lmscore.send_email"


class Mailer:
    def __init__(self, settings: EmailSettings):
        self.settings = settings

    def build(self, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="lmscore")
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        msg = self.build(to, subject, text, html)
        backend = self.settings.backend
        if backend == "console":
            log.warning("email to %s: %s\n%s", to, subject, text)
        elif backend == "file":
            folder = Path(self.settings.file_dir)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(msg))
        else:
            s = self.settings
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(msg)
