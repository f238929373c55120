"""gunicorn settings for the API in production (docs/OPERATIONS.md, "The API").

Give `--bind` on the command line (the systemd unit and the Procfile do); options given
there override these.
"""

import multiprocessing

# The API is CPU-bound and keeps nothing between requests: two workers per core, each
# with threads so a request waiting on the database does not hold a whole process.
workers = 2 * multiprocessing.cpu_count()
worker_class = "gthread"
threads = 8
# Each worker builds its own ledger on its first request: no app loaded before the fork
# (database connections must not be shared across processes).
preload_app = False
# A request never takes long; one that hangs this long is killed and its worker replaced.
timeout = 30
# On SIGTERM, requests in flight get this long to finish; a command's transaction is
# committed or rolled back whole either way.
graceful_timeout = 30
# Behind a load balancer that keeps connections open (set it above this).
keepalive = 5
# The service logs one JSON line per request itself (stderr); gunicorn's own log to stderr.
accesslog = None
errorlog = "-"
# Trust X-Forwarded-* only from a proxy on this host.
forwarded_allow_ips = "127.0.0.1"
# gunicorn 27's control socket defaults to a shared path; nothing here uses it.
control_socket_disable = True
