"""Admin: users, and the team's settings (at /admin)."""
