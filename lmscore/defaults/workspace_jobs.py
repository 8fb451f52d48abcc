"""Workspace jobs: launch and stop (queued by requests), the idle reaper and the reconciler
(periodic). They run for whichever workspace backend is configured."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..jobs import JobSpec, PeriodicJob
from ..services import workspaces

#: Longest a launch may take: the slowest profile's health wait plus an image pull.
LAUNCH_TIME_LIMIT_S = 1800


@hookimpl
def lms_register_actors():
    # No retries: a failed launch or stop is reported on the row; repeating it is the
    # learner's (or the reconciler's) decision.
    return [
        JobSpec(workspaces.LAUNCH_JOB, workspaces.run_launch, max_retries=0,
                time_limit_s=LAUNCH_TIME_LIMIT_S),
        JobSpec(workspaces.STOP_JOB, workspaces.run_stop, max_retries=0, time_limit_s=300),
        JobSpec(workspaces.REAP_JOB, workspaces.reap_idle, max_retries=0),
        JobSpec(workspaces.RECONCILE_JOB, workspaces.reconcile, max_retries=0),
    ]


@hookimpl
def lms_register_periodic_jobs():
    return [
        PeriodicJob(workspaces.REAP_JOB, every_s=60),
        PeriodicJob(workspaces.RECONCILE_JOB, every_s=120),
    ]
