"""OpenAI-compatible routes (/v1/...): the official SDKs work unchanged with base_url pointed here."""
