"""Domain logic shared by the API, the web UI, the CLI and jobs. No Flask imports here."""
