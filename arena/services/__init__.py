"""Writes. Each service is keyword-only, typed, atomic, and queues side effects on commit."""
