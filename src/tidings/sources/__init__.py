"""GitHub Actions and GitLab CI as sources of task events: their webhooks checked (`verify`),
read (`github`, `gitlab`, into `updates`), and merged run by run into the task snapshot every
notify_ctl fires for (`runs`). Pure: `tidings serve`'s hook routes do the I/O (the body, the
run's state in the database, the outbox); docs/sources.md says what each field becomes.
"""
