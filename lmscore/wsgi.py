"""WSGI entry point: ``gunicorn 'lmscore.wsgi:app'``. Starts the in-process job worker when
no Redis broker is configured."""

from .app import create_app, start_in_process_worker

app = create_app()
start_in_process_worker(app)
