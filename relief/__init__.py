"""relief: Nantong emergency supplies reserve and dispatch system (composition root and platform)."""
