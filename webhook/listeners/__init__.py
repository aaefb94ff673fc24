"""Side effects after a bot turn, registered with the conversation service."""
