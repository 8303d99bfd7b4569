"""Persistence: tasks, events, deliveries, attempts and per-destination state (SQLAlchemy Core).

SQLite (a file, WAL) by default; PostgreSQL to share the work between machines.
"""
