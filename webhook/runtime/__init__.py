"""Process management, the event bus and the Rasa client."""
