"""Many zones: scenario zones, moves between them, the zone-aware market and the optimum over zones."""
