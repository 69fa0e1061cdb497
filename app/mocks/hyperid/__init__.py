"""The hyper.id mock: its server ("api_auth" service) and its one user's sessions."""
