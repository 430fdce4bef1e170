"""All models, importable from one place: `from crm.models import Customer`. One module per
entity (crm/models/<entity>.py); the pairs that only make sense together share one
(TagGroup and Tag; StageTotal and ClosedTotal)."""
from crm.models.audit_entry import AuditEntry
from crm.models.base import UTCDateTime, utcnow
from crm.models.competitor import Competitor
from crm.models.contact import Contact
from crm.models.custom_field import (FIELD_TYPES, RECORD_TYPES, CustomField,
                                      CustomFieldOption, CustomJSON)
from crm.models.customer import CUSTOMER_KINDS, CUSTOMER_SIZES, Customer, customer_shares, customer_tags
from crm.models.login_session import LoginSession
from crm.models.import_batch import (IMPORT_STATUSES, ExternalKey, ImportBatch, ImportMapping,
                                      ImportRecord, ImportReject)
from crm.models.job import JOB_STATUSES, Job
from crm.models.merge import DuplicatePair, Merge
from crm.models.lost_reason import DEFAULT_LOST_REASON_NAMES, LostReason
from crm.models.note import NOTE_KINDS, Note
from crm.models.opportunity import STATUSES, Opportunity, opportunity_links, opportunity_shares
from crm.models.pipeline import Pipeline
from crm.models.segment import Segment
from crm.models.setting import Setting
from crm.models.stage import DEFAULT_STAGE_NAMES, STAGE_KINDS, Stage
from crm.models.stage_change import StageChange
from crm.models.stage_total import ClosedTotal, StageTotal
from crm.models.tag import Tag, TagGroup
from crm.models.task import Task
from crm.models.user import LANGUAGES, ROLES, User

__all__ = [
    "CUSTOMER_KINDS", "CUSTOMER_SIZES", "Contact", "Customer", "Segment", "Tag", "TagGroup",
    "customer_tags", "NOTE_KINDS", "Note", "DEFAULT_LOST_REASON_NAMES", "DEFAULT_STAGE_NAMES",
    "STAGE_KINDS", "STATUSES", "Competitor", "LostReason", "Opportunity", "Pipeline", "Stage",
    "StageChange", "StageTotal", "ClosedTotal", "Task", "opportunity_links", "LANGUAGES",
    "ROLES", "LoginSession", "User", "UTCDateTime", "utcnow", "customer_shares",
    "opportunity_shares", "AuditEntry", "Setting", "CustomField", "CustomFieldOption",
    "CustomJSON", "FIELD_TYPES", "RECORD_TYPES",
]
__all__ += ["JOB_STATUSES", "Job"]  # background jobs (crm/jobs/)
__all__ += ["IMPORT_STATUSES", "ExternalKey", "ImportBatch", "ImportMapping", "ImportRecord",
            "ImportReject"]  # imports (crm/imports/)
from crm.models.lead import (BANT_ANSWERS, BANT_KEYS, DEFAULT_DISQUALIFY_REASONS,  # noqa: E402
                             DEFAULT_LEAD_SOURCES, LEAD_STATUSES, OPEN_STATUSES, RULE_KINDS,
                             DisqualifyReason, Lead, LeadSource, ScoringRule, lead_tags)
__all__ += ["BANT_ANSWERS", "BANT_KEYS", "DEFAULT_DISQUALIFY_REASONS", "DEFAULT_LEAD_SOURCES",
            "LEAD_STATUSES", "OPEN_STATUSES", "RULE_KINDS", "DisqualifyReason", "Lead",
            "LeadSource", "ScoringRule", "lead_tags"]  # leads (issue 11)
from crm.models.pool import (DEFAULT_LEVELS, HOWS, POOL_KINDS, RULES, CustomerLevel,  # noqa: E402
                             OwnerChange, Pool, PoolLimit, PoolMember)
__all__ += ["DEFAULT_LEVELS", "HOWS", "POOL_KINDS", "RULES", "CustomerLevel", "OwnerChange",
            "Pool", "PoolLimit", "PoolMember"]  # the public pool (crm/pools)
__all__ += ["DuplicatePair", "Merge"]  # merges of duplicates (crm/duplicates/)
from crm.models.webform import (ASSIGNMENT_MODES, WEBFORM_FIELDS, AssignmentRule,  # noqa: E402
                                WebForm, assignment_rule_members)
__all__ += ["ASSIGNMENT_MODES", "WEBFORM_FIELDS", "AssignmentRule", "WebForm",
            "assignment_rule_members"]  # capture: web forms and assignment (issue 11)

# The triggers that keep stage_totals come with the schema (crm/stage_totals.py).
from crm import stage_totals as _stage_totals  # noqa: E402
from crm.extensions import db as _db  # noqa: E402

_stage_totals.register(_db.metadata)
