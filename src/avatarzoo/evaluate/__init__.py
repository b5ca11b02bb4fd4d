"""Held-out evaluation: image metrics, re-tracked expression fidelity, previews."""
