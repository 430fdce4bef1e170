"""Opportunity views."""
