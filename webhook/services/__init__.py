"""One module per capability; what routes and channels call. No FastAPI."""
