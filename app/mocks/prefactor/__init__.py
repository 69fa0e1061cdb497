"""The Prefactor mock: its server (API v1 sessions), its generated sessions and its PFIDs."""
