"""Tiers hold cache policy (keys, expiry, what counts as a hit) as flows of storage operations."""
