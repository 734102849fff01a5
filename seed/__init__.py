"""Nantong seed data and its idempotent loader."""
