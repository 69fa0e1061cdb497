"""Webhooks: session events POSTed to configured endpoints, signed per Standard Webhooks."""
