"""Speech feature extractors, one module per `audio_features` kind; the contract they
share (a causal 100 frames/s grid, offline `__call__` and `stream()`) is `base.py`."""
