"""Webhook ingest: the route, the durable inbox, and the micro-cycle that applies it."""
