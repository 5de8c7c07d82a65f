"""Embedded-default (CPU-minutes) configs of every method."""
