"""All models, importable from one place."""
from crm.models.base import UTCDateTime, utcnow
from crm.models.customer import (
    CUSTOMER_KINDS,
    CUSTOMER_SIZES,
    Contact,
    Customer,
    Segment,
    Tag,
    TagGroup,
    customer_shares,
    customer_tags,
)
from crm.models.note import NOTE_KINDS, Note
from crm.models.sales import (
    DEFAULT_LOST_REASON_NAMES,
    DEFAULT_STAGE_NAMES,
    STAGE_KINDS,
    STATUSES,
    Competitor,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    StageChange,
    StageTotal,
    ClosedTotal,
    Task,
    opportunity_links,
    opportunity_shares,
)
from crm.models.workspace import AuditEntry, Setting
from crm.models.user import LANGUAGES, ROLES, LoginSession, User

__all__ = [
    "CUSTOMER_KINDS", "CUSTOMER_SIZES", "Contact", "Customer", "Segment", "Tag", "TagGroup",
    "customer_tags", "NOTE_KINDS", "Note", "DEFAULT_LOST_REASON_NAMES", "DEFAULT_STAGE_NAMES",
    "STAGE_KINDS", "STATUSES", "Competitor", "LostReason", "Opportunity", "Pipeline", "Stage",
    "StageChange", "StageTotal", "ClosedTotal", "Task", "opportunity_links", "LANGUAGES", "ROLES", "LoginSession", "User", "UTCDateTime",
    "utcnow", "customer_shares", "opportunity_shares", "AuditEntry", "Setting",
]

# The triggers that keep stage_totals come with the schema (crm/stage_totals.py).
from crm import stage_totals as _stage_totals  # noqa: E402
from crm.extensions import db as _db  # noqa: E402

_stage_totals.register(_db.metadata)
