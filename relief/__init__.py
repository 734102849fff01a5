"""relief: Nantong emergency supplies reserve and dispatch: ``relief.platform`` (what every
domain builds on) and ``relief.app`` (the composition root)."""
