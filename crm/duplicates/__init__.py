"""Duplicates and merge (查重与合并): likely pairs of records, and merging them (see docs/merge.md)."""
