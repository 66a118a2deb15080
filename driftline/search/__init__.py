"""Search planning on the particle cloud: theory, effort allocation, patterns, unsuccessful searches, survival."""
