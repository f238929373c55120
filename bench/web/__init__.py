"""The web baselines, the gunicorn runner and the load generator of the HTTP bench."""
