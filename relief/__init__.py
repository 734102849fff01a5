"""relief: Nantong emergency supplies reserve and dispatch (composition root and platform)."""
