"""Metrics (defined once) and the daemons' health and metrics endpoints."""
