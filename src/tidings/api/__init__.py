"""The HTTP service (`tidings serve`): thin routes over the same layers the CLI calls.

FastAPI and uvicorn are imported only here and by `tidings serve`, never by other commands.
"""
