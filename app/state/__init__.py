"""State shared by replicas (Redis): rate limits, the response cache, persisted documents."""
