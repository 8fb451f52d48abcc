"""The core's own jobs: event delivery, the outbox sweep, email, submission processing,
quiz generation, closing expired quiz attempts and purging spent credentials."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..jobs import JobSpec, PeriodicJob
from ..mail import SEND_JOB
from ..services import auth, events, quizzes, submissions


def send_email(lms, to: str, subject: str, text: str, html: str | None = None) -> None:
    lms.mailer.send(to, subject, text, html)


@hookimpl
def lms_register_actors():
    return [
        JobSpec(events.DELIVER_JOB, events.deliver, max_retries=3),
        JobSpec(events.SWEEP_JOB, events.sweep, max_retries=0),
        JobSpec(SEND_JOB, send_email, max_retries=8),
        JobSpec(submissions.PROCESS_JOB, submissions.process, max_retries=3),
        JobSpec(quizzes.GENERATE_JOB, quizzes.generate, max_retries=0, time_limit_s=300),
        JobSpec(quizzes.AUTO_CLOSE_JOB, quizzes.close_expired_attempts, max_retries=0),
        JobSpec(quizzes.GRADE_CODE_JOB, quizzes.grade_code_answers, max_retries=2),
        JobSpec(auth.PURGE_JOB, auth.purge_spent_credentials, max_retries=0),
    ]


@hookimpl
def lms_register_periodic_jobs():
    return [
        PeriodicJob(events.SWEEP_JOB, every_s=60),
        PeriodicJob(quizzes.AUTO_CLOSE_JOB, every_s=30),
        PeriodicJob(auth.PURGE_JOB, every_s=3600),
    ]
