"""lmscore plugin ``workspace_docker``: workspaces as hardened containers on a Docker Engine."""
