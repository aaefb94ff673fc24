"""Custom Rasa actions (rasa-sdk). They answer from the knowledge base."""
