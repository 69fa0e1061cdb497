"""The Ory Kratos mock: its server (admin session API) and its identities and sessions."""
