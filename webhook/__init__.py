"""The FastAPI service, in layers (docs/architecture.md, "Layout"): domain, store, runtime, services, listeners, channels, api, pages."""
