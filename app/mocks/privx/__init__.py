"""The PrivX mock: its server (sessionstorage API) and its generated sessions."""
