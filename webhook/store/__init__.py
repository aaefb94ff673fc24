"""Persistence: the SQLAlchemy schema, the database handle and the repositories."""
