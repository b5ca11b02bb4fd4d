"""Bundles: one movable, self-describing directory per avatar version."""

from avatarzoo.bundle.format import BUNDLE_FILES, FORMAT_VERSION
from avatarzoo.bundle.io import Bundle, read_bundle, write_bundle

__all__ = ["BUNDLE_FILES", "FORMAT_VERSION", "Bundle", "read_bundle", "write_bundle"]
