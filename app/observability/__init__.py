"""Metrics, logs, tracing and event-loop lag: what the gateway tells its operators."""
