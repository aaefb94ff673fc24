"""The FastAPI service: channels, the action endpoint, and (later) agent, editor and analytics pages."""
