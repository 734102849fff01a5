"""dispatch: incidents, fleet, plan jobs, shipments; ``dispatch.planning`` is the pure planner."""
