"""What a new install starts with (one pipeline with DOMAIN.md's eight stages, the lost
reasons) lives in crm.pipelines.services; this name stays for the tests that import it."""
from crm.pipelines.services import DEFAULT_LOST_REASONS, DEFAULT_STAGES, ensure_defaults

__all__ = ["DEFAULT_LOST_REASONS", "DEFAULT_STAGES", "ensure_defaults"]
