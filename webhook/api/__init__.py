"""HTTP API: one module-level router per resource, typed dependencies, response models."""
