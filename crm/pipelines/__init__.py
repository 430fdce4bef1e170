"""Admin: pipelines, their stages, and lost reasons (at /admin/pipelines)."""
