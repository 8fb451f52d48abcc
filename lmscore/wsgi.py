"""WSGI entry point: ``gunicorn 'lmscore.wsgi:app'``. Starts the in-process job worker when
no Redis broker is configured."""

import gc

from .app import create_app, start_in_process_worker

app = create_app()
start_in_process_worker(app)
# What is loaded by now (modules, the app, plugins, templates) lives as long as the process:
# kept out of the collector's view, a full collection no longer walks ~130,000 objects
# (tens of ms, at any request's expense), and forked workers keep sharing those pages.
gc.freeze()
