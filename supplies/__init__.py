"""Inventory domain: the reserve network, the catalogue and the one stock ledger."""
