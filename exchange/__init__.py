"""The provincial exchange: export feeds, provincial imports and the pull connector.

See docs/integration.md. Imports relief, supplies and dispatch.models; nothing imports it
except the composition root (relief.app.main, relief.app.cli, relief.app.tables).
"""
