"""``local``: the default when no workspace engine is configured; it says so clearly."""

from __future__ import annotations

from ..capabilities import WorkspaceBackend, WorkspaceInfo, WorkspaceSpec, WorkspaceStatus
from ..hookspecs import hookimpl

NOT_CONFIGURED = (
    "No workspace engine is configured on this site. Ask an administrator to enable a "
    "workspace backend plugin (for example workspace_docker)."
)


class LocalBackend(WorkspaceBackend):
    name = "local"
    label = "None configured"
    engine_configured = False

    def launch(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        return WorkspaceInfo(status=WorkspaceStatus.FAILED, message=NOT_CONFIGURED)

    def status(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        return WorkspaceInfo(status=WorkspaceStatus.STOPPED, message=NOT_CONFIGURED)

    def stop(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        return WorkspaceInfo(status=WorkspaceStatus.STOPPED, message=NOT_CONFIGURED)

    def delete(self, spec: WorkspaceSpec) -> None:
        return None


@hookimpl
def lms_register_workspace_backends():
    return [LocalBackend()]
