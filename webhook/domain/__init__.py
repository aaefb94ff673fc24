"""Enums, value types, errors and rules: no FastAPI, no SQLAlchemy."""
