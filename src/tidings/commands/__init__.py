"""One module per CLI command: the work behind cli.py, imported only when it runs."""
