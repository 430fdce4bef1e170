"""Leads as a kind of merge (合并, crm/duplicates): the fields the user picks between, the
children that move to the lead kept (follow-up notes, tasks), the behaviour tags added to it,
who may see and merge (crm/permissions.py: a converted lead is read-only, so it is never
merged), and the score recomputed after a merge or its undo (crm/leads/scoring.py).
Registered in create_app with crm.duplicates.services.register."""
from crm.duplicates.services import MergeKind
from crm.leads import scoring
from crm.leads.services import LEAD_FIELDS
from crm.models import Lead, Note, Task, lead_tags
from crm.permissions import can_edit_lead, can_see_lead


def _can_merge(user, lead) -> bool:
    return lead.status != "converted" and can_edit_lead(user, lead)


def _rescore(lead_ids) -> None:
    scoring.recompute(list(lead_ids))


MERGE_KIND = MergeKind(
    "lead", Lead, LEAD_FIELDS,
    children=(("notes", Note, "lead_id"), ("tasks", Task, "lead_id")),
    links=(("tags", lead_tags, "lead_id", "tag_id"),),
    custom_entity="lead", see=can_see_lead, edit=_can_merge, after=_rescore)
