"""Built-in providers, registered in every app through the same hooks plugins use."""
