"""The workflow runner: workflow definitions (spec), the task state machine (engine), job kinds
(jobs), template variables (variables) and the runner's own state in the store (state)."""
