"""Logging in and out, first-run setup, and the account page."""
