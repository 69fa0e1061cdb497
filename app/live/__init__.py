"""Live sessions: shared pollers that turn upstream listings into session events."""
