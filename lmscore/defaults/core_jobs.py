"""The core's own jobs: event delivery, the outbox sweep and sending email."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..jobs import JobSpec, PeriodicJob
from ..mail import SEND_JOB
from ..services import events


def send_email(lms, to: str, subject: str, text: str, html: str | None = None) -> None:
    lms.mailer.send(to, subject, text, html)


@hookimpl
def lms_register_actors():
    return [
        JobSpec(events.DELIVER_JOB, events.deliver, max_retries=3),
        JobSpec(events.SWEEP_JOB, events.sweep, max_retries=0),
        JobSpec(SEND_JOB, send_email, max_retries=8),
    ]


@hookimpl
def lms_register_periodic_jobs():
    return [PeriodicJob(events.SWEEP_JOB, every_s=60)]
