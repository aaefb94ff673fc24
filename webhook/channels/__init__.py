"""Customer-facing channels. Each turns its wire format into an InboundMessage."""
