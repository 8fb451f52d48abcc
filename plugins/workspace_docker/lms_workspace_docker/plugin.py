"""Hook implementations of the ``workspace_docker`` plugin."""

from __future__ import annotations

from marshmallow import fields, validate

from lmscore import hookimpl
from lmscore.jobs import JobSpec, PeriodicJob

from .backend import DockerWorkspaceBackend
from .engine import EngineSchema
from .sandbox import DockerSandbox, DockerSandboxSchema

#: Renews expired pool containers and removes orphaned sandbox containers (sandbox.py).
SANDBOX_CLEANUP_JOB = "workspace_docker.sandbox_cleanup"


class WorkspaceDockerSettings(EngineSchema):
    """``[plugins.workspace_docker]`` (docs/workspaces.md)."""

    #: Names and labels carry it, so several lmscore sites can share one engine.
    instance = fields.String(load_default="lmscore",
                             validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,31}$"))
    #: The host address IDE ports are published on; the proxy and the workers reach them there.
    published_host = fields.String(load_default="127.0.0.1")
    #: 0: the engine picks a free port; else workspace N is published on base + N.
    host_port_base = fields.Integer(load_default=0, validate=validate.Range(min=0, max=60_000))
    #: Let the engine pull a profile's image when it is missing (production); tests never pull.
    pull_missing_images = fields.Boolean(load_default=False)
    #: Host paths bind-mounted read-only into every workspace, as "source:target".
    bind_mounts = fields.List(
        fields.String(validate=validate.Regexp(r"^/[^:]*:/[^:]*$",
                                               error="must be /host/path:/container/path")),
        load_default=list,
    )
    #: Whether workspaces reach the internet (masqueraded); they never reach each other.
    egress = fields.Boolean(load_default=True)
    #: The code-grading sandbox (sandbox.py, docs/code-grading.md).
    sandbox = fields.Nested(DockerSandboxSchema,
                            load_default=lambda: DockerSandboxSchema().load({}))


@hookimpl
def lms_config_schema():
    return WorkspaceDockerSettings


@hookimpl
def lms_register_workspace_backends(lms):
    return [DockerWorkspaceBackend(lms.plugin_config("workspace_docker"))]


@hookimpl
def lms_register_sandboxes(lms):
    config = lms.plugin_config("workspace_docker")
    return [DockerSandbox(config, config["sandbox"], instance=config["instance"])]


@hookimpl
def lms_register_actors():
    return [JobSpec(SANDBOX_CLEANUP_JOB, clean_up_sandbox, max_retries=0)]


@hookimpl
def lms_register_periodic_jobs(lms):
    if lms.settings.code_grading.sandbox != DockerSandbox.name:
        return None  # this site makes no sandbox containers
    every_s = lms.plugin_config("workspace_docker")["sandbox"]["cleanup_every_s"]
    return [PeriodicJob(SANDBOX_CLEANUP_JOB, every_s=every_s)]


def clean_up_sandbox(lms) -> None:
    """Job: renews the pool of whichever worker process runs it, removes orphans."""
    lms.sandboxes.get(DockerSandbox.name).clean_up()
