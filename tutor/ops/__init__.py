"""Running the app in production: request ids and structured logs, health and readiness probes.

Nothing here knows about tutoring; ``deploy/`` and ``docs/deploy.md`` describe the set-up these
serve.
"""
