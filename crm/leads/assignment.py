"""Assignment (分配) of new leads: the rules admins define (/admin/assignment), applied by one
entry point, `assign_new_lead`, to every lead that arrives without a chosen owner (the public
web forms, crm/webforms). A lead entered by hand keeps the owner its creator chose."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from crm.extensions import db
from crm.models import ASSIGNMENT_MODES, AssignmentRule, Lead, Task, User, assignment_rule_members, utcnow
from crm.pools.services import record_owner_change
from crm.rules import RuleError

MAX_CONTACT_HOURS = 24 * 30


def assign_new_lead(lead: Lead, rule: AssignmentRule | None,
                    now: datetime | None = None) -> User | None:
    """Give a new `lead` its owner by `rule`, and the owner a task; answer the owner (None: the
    pool). No commit: the caller's transaction holds the lead, the turn and the task together.

    Rules:
    - no rule, or mode `pool`: the lead stays unowned (owner NULL), in the pool; no task.
    - mode `owner`: the rule's owner, if that user is active; else the pool.
    - mode `round_robin`: the members in turn, by user id, inactive members skipped. The turn
      is taken by one atomic `UPDATE assignment_rules SET turn = turn + 1 ... RETURNING turn`:
      the row's lock (PostgreSQL) or the database's write lock (SQLite) makes concurrent
      submissions take distinct turns, so two simultaneous leads never go to the same person
      when the turn says otherwise. No active member: the pool.
    - the new owner gets a task "contact <name> within N hours" (N = the rule's
      `contact_hours`), due `now + N` hours, hanging on the lead (tasks.lead_id), in the
      owner's language; it shows in the owner's /tasks.
    - the owner history (crm.pools.services.record_owner_change) says "assigned" by the rule,
      and the owner's days count from now (owner_since).
    """
    now = now or utcnow()
    if lead.id is None:
        db.session.flush()  # the owner history names the lead by its id
    owner = _choose_owner(rule) if rule is not None else None
    lead.owner = owner
    lead.owner_since = now if owner is not None else None
    if owner is not None:
        record_owner_change("lead", lead.id, None, owner.id, "assigned", reason=rule.name, at=now)
        with force_locale(owner.language or "en"):
            title = _("Contact %(name)s within %(hours)s hours", name=lead.name,
                      hours=rule.contact_hours)
        db.session.add(Task(title=title[:200], due_at=now + timedelta(hours=rule.contact_hours),
                            assignee=owner, lead=lead))
    db.session.flush()
    return owner


def _choose_owner(rule: AssignmentRule) -> User | None:
    if rule.mode == "owner":
        owner = rule.owner
        return owner if owner is not None and owner.active else None
    if rule.mode != "round_robin":
        return None
    members = list(db.session.execute(
        db.select(User).join(assignment_rule_members,
                             assignment_rule_members.c.user_id == User.id)
        .where(assignment_rule_members.c.rule_id == rule.id, User.active.is_(True))
        .order_by(User.id)).scalars())
    if not members:
        return None
    turn = take_turn(rule.id)
    return members[(turn - 1) % len(members)]


def take_turn(rule_id: int) -> int:
    """The rule's next turn (1, 2, 3...): one atomic UPDATE ... RETURNING, never a read then a
    write, so each concurrent caller gets its own number."""
    table = AssignmentRule.__table__
    return db.session.execute(
        update(table).where(table.c.id == rule_id).values(turn=table.c.turn + 1)
        .returning(table.c.turn)).scalar_one()


def save_rule(rule: AssignmentRule | None, *, name: str, mode: str, owner: User | None,
              members: list[User], contact_hours: int) -> AssignmentRule:
    """Create or change an assignment rule. Rules: a name; a known mode; `owner` mode needs an
    active owner; `round_robin` needs at least one active member; 1..720 hours to contact."""
    name = (name or "").strip()
    if not name:
        raise RuleError(_l("Enter a name."), field="name")
    if mode not in ASSIGNMENT_MODES:
        raise RuleError(_l("Choose how leads are assigned."), field="mode")
    if mode == "owner" and (owner is None or not owner.active):
        raise RuleError(_l("Choose an active user."), field="owner_id")
    if mode == "round_robin" and not any(user.active for user in members):
        raise RuleError(_l("Choose at least one active user."), field="member_ids")
    if not (contact_hours and 1 <= contact_hours <= MAX_CONTACT_HOURS):
        raise RuleError(_l("Enter between 1 and 720 hours."), field="contact_hours")
    if rule is None:
        rule = AssignmentRule(turn=0)
        db.session.add(rule)
    rule.name = name[:100]
    rule.mode = mode
    rule.owner = owner if mode == "owner" else None
    rule.members = list(members) if mode == "round_robin" else []
    rule.contact_hours = contact_hours
    db.session.flush()
    return rule
