"""The live runtime: events in, policies decide, actions out through an outbox (DESIGN.md)."""
