"""Dagster objects only: partitions, assets, resources. Thin wrappers over the pure modules."""
