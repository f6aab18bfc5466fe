"""MedDRA: the user's own distribution, loaded by version, and the look-ups coding relies on."""
