"""The FastAPI service, in layers (docs/architecture.md, "Layout").

domain, store and runtime, services and listeners, channels and api, pages; app.py wires them.
"""
