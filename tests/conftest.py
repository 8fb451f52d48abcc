"""Core tests use the fixtures of lmscore.testing (loaded through its pytest11 entry point)."""
