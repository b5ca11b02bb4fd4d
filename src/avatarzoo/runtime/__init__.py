"""What `avatarzoo.load()` returns: an avatar that renders frames."""
