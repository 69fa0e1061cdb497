"""Devices and risk signals over one person's sessions across providers."""
