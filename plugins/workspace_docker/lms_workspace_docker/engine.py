"""The Docker Engine connection, shared by everything in this plugin that talks to the engine
(the workspace backend, the code-grading sandbox): one config shape, one way to build a client.

The address is ``DOCKER_HOST``-style (``unix:///var/run/docker.sock``, ``tcp://host:2376``,
``ssh://user@host``): a remote engine is used exactly like a local one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker
from docker.errors import DockerException
from marshmallow import Schema, fields, validate

#: Every container, network and volume lmscore creates carries this label (scripts/docker.sh
#: and the reconciler find them by it).
MANAGED_LABEL = "lmscore.managed"


class EngineSchema(Schema):
    """The engine keys of ``[plugins.workspace_docker]``."""

    base_url = fields.String(
        load_default="unix:///var/run/docker.sock",
        validate=validate.Regexp(r"^(unix|tcp|ssh|npipe|http|https)://",
                                 error="must be a DOCKER_HOST-style URL (unix://, tcp://, ssh://)"),
    )
    timeout_s = fields.Integer(load_default=30, validate=validate.Range(min=1, max=600))
    #: TLS for a ``tcp://`` engine: the CA and the client certificate and key (PEM paths).
    tls_ca_cert = fields.String(load_default="")
    tls_client_cert = fields.String(load_default="")
    tls_client_key = fields.String(load_default="")


class EngineUnavailable(RuntimeError):
    """The engine did not answer; the message says where we tried and why."""


def client_from_config(config: Mapping[str, Any]) -> docker.DockerClient:
    """A client for the engine configured in ``config`` (a loaded ``EngineSchema`` mapping, e.g.
    ``lms.plugin_config("workspace_docker")``). The API version is negotiated with the engine,
    so this makes one request; raises ``EngineUnavailable`` when the engine does not answer."""
    tls: docker.tls.TLSConfig | bool = False
    if config.get("tls_client_cert"):
        tls = docker.tls.TLSConfig(
            client_cert=(config["tls_client_cert"], config["tls_client_key"]),
            ca_cert=config.get("tls_ca_cert") or None,
            verify=bool(config.get("tls_ca_cert")),
        )
    try:
        return docker.DockerClient(
            base_url=config["base_url"], version="auto", timeout=config["timeout_s"], tls=tls,
            max_pool_size=20,
        )
    except DockerException as exc:
        raise EngineUnavailable(
            f"The Docker Engine at {config['base_url']} is not reachable: {exc}"
        ) from exc


def ran_out_of_memory(state: Mapping[str, Any]) -> bool:
    """Whether an exited container's ``State`` says it was killed for memory. Besides
    ``OOMKilled``, an exit by SIGKILL (137) nobody asked for counts: this engine on cgroup v2
    does not always record the kernel's out-of-memory kill, and nothing else kills a
    container's processes that way."""
    return bool(state.get("OOMKilled")) or state.get("ExitCode") == 137
