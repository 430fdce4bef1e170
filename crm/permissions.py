"""Who may see and change what: the one place the rules of roles and record visibility live.

Roles
- admin: everything, configuration included (users, pipelines, workspace settings).
- manager: every record, the reports, reassigning records (changing their owner), tags.
- sales: creates records; SEES and EDITS
    * their own records: owner_id == me, or no owner and created_by_id == me;
    * records explicitly shared with them (customer_shares / opportunity_shares): a share
      grants edit, not only sight.
  and only SEES (read-only):
    * the opportunities of a customer they may edit (their own or shared with them);
    * the customer of an opportunity they may edit (a read-only profile; its other
      opportunities stay hidden unless another rule shows them);
    * every record of the team when the admin turns on "team sees everything"
      (Setting "team_sees_everything" = "1"); that setting grants sight, never edit.
  Sales never give a record to someone else: only managers and admins reassign. A salesperson
  may take an unowned record they can edit (set themselves as its owner).
- sharing: the owner of a record, managers and admins share it with other users.

Answers of the views: a record that does not exist is a 404; one that exists but the user may
not see, or may see but not change, is a 403 (pages, fragments and POSTs alike). That is for
the record the URL names. A record named by a form field or a query argument (the customer
of a new opportunity, its contact, a task's related record, a note's target, a deal to link,
customers to tag, a prefill such as ?customer_id=) that the user may not see is answered
exactly as an id that exists nowhere: the same status, the same message, and nothing of it
rendered (visible_record and the visibility clauses below find only such records). Lists,
searches, pickers, the board and totals never include what the user may not see: they add
`visible_customers_clause(user)` / `visible_opportunities_clause(user)` to their WHERE (EXISTS
subqueries on the share tables, no query per row).

Per request, the workspace setting and the ids shared with the user are read once (flask.g),
so predicates called for every card of the board cost no query per card.
"""
from functools import wraps

from flask import abort, g, has_app_context, has_request_context
from flask_login import current_user
from sqlalchemy import String, and_, cast, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (
    AuditEntry, Customer, Lead, Note, Opportunity, Segment, Setting, customer_shares,
    opportunity_shares,
)

# --- roles and the signed-in user ------------------------------------------------------------

TEAM_SEES_EVERYTHING = "team_sees_everything"


def role_required(*roles: str):
    """Allow only users with one of `roles`; others get 403."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


admin_required = role_required("admin")
manager_required = role_required("admin", "manager")


def _cache() -> dict:
    if not has_app_context():
        return {}
    cache = g.get("_crm_permissions")
    if cache is None:
        cache = g._crm_permissions = {}
    return cache


def clear_cache() -> None:
    """Forget what this request read (after a share or the setting changed)."""
    if has_app_context():
        g.pop("_crm_permissions", None)


def current_viewer():
    """The signed-in user of this request; None outside one (the CLI, jobs, service-level
    tests), where the services' implicit visibility filters do not apply. Every web page
    needs a login, so a web request always has a viewer."""
    if has_request_context() and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def _authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def _is_manager(user) -> bool:
    return _authenticated(user) and user.role in ("admin", "manager")


def sees_everything(user) -> bool:
    """True when no visibility filter applies to `user` (managers, admins, the team switch,
    or None: no viewer, see current_viewer)."""
    return user is None or _is_manager(user) or (_authenticated(user) and team_sees_everything())


def checked(record, can_see, can_edit=None, *, edit: bool = False):
    """The record a URL names, after the check every page, fragment and POST of it makes:
    404 when it does not exist (None), 403 when the signed-in user may not see it (`can_see`)
    or, with `edit`, not change it (`can_edit`)."""
    if record is None:
        abort(404)
    if not can_see(current_user, record):
        abort(403)
    if edit and not can_edit(current_user, record):
        abort(403)
    return record


# --- the workspace setting -------------------------------------------------------------------

def team_sees_everything() -> bool:
    """The admin's switch: every salesperson sees (not edits) every record. Read once per request."""
    cache = _cache()
    if TEAM_SEES_EVERYTHING not in cache:
        setting = db.session.get(Setting, TEAM_SEES_EVERYTHING)
        cache[TEAM_SEES_EVERYTHING] = bool(setting is not None and setting.value == "1")
    return cache[TEAM_SEES_EVERYTHING]


def set_team_sees_everything(value: bool) -> None:
    """Store the switch (the caller commits)."""
    setting = db.session.get(Setting, TEAM_SEES_EVERYTHING)
    if setting is None:
        setting = Setting(key=TEAM_SEES_EVERYTHING)
        db.session.add(setting)
    setting.value = "1" if value else "0"
    clear_cache()


# --- ids shared with a user (one query each, once per request) -------------------------------

def shared_customer_ids(user) -> frozenset[int]:
    return _shared_ids(user, customer_shares, customer_shares.c.customer_id)


def shared_opportunity_ids(user) -> frozenset[int]:
    return _shared_ids(user, opportunity_shares, opportunity_shares.c.opportunity_id)


def _shared_ids(user, table, column) -> frozenset[int]:
    if not _authenticated(user):
        return frozenset()
    key = (table.name, user.id)
    cache = _cache()
    if key not in cache:
        cache[key] = frozenset(db.session.execute(
            select(column).where(table.c.user_id == user.id)).scalars())
    return cache[key]


def loaded_with_user(user_id_column, dialect_name: str) -> list:
    """What the user loader reads in the user's own statement (crm/__init__.py), so that a
    salesperson's page pays no statement of its own for them: the workspace switch and the
    ids shared with the user, each id list as one comma-separated string."""

    def id_list(table, column):
        if dialect_name == "postgresql":
            joined = func.string_agg(cast(column, String), literal(","))
        else:
            joined = func.group_concat(column, literal(","))
        return select(joined).where(table.c.user_id == user_id_column).scalar_subquery()

    return [
        select(Setting.value).where(Setting.key == TEAM_SEES_EVERYTHING).scalar_subquery(),
        id_list(customer_shares, customer_shares.c.customer_id),
        id_list(opportunity_shares, opportunity_shares.c.opportunity_id),
    ]


def remember_loaded(user_id: int, team_value, customer_ids, opportunity_ids) -> None:
    """Keep what loaded_with_user read for this request (clear_cache() forgets it after a
    share or the switch changes)."""
    def ids(text) -> frozenset[int]:
        return frozenset(int(part) for part in str(text).split(",") if part) if text else frozenset()

    cache = _cache()
    cache[TEAM_SEES_EVERYTHING] = team_value == "1"
    cache[("customer_shares", user_id)] = ids(customer_ids)
    cache[("opportunity_shares", user_id)] = ids(opportunity_ids)


# --- ownership, in Python and in SQL ---------------------------------------------------------

def owns(user, record) -> bool:
    """The user's own record: they own it, or they created it and nobody owns it (and it was
    not put in a pool: a record released or returned to a pool is nobody's, crm/pools)."""
    if not _authenticated(user) or record is None:
        return False
    if record.owner_id is not None:
        return record.owner_id == user.id
    return record.created_by_id == user.id and getattr(record, "pool_id", None) is None


def _own_clause(model, user):
    unowned_mine = and_(model.owner_id.is_(None), model.created_by_id == user.id)
    if hasattr(model, "pool_id"):
        unowned_mine = and_(unowned_mine, model.pool_id.is_(None))
    return or_(model.owner_id == user.id, unowned_mine)


def _editable_customer(model, user):
    return or_(_own_clause(model, user), exists().where(
        customer_shares.c.customer_id == model.id, customer_shares.c.user_id == user.id))


def _editable_opportunity(model, user):
    """`model` (Opportunity or an alias) is one the salesperson may edit."""
    return or_(_own_clause(model, user), exists().where(
        opportunity_shares.c.opportunity_id == model.id, opportunity_shares.c.user_id == user.id))


# --- customers: each check beside the clause that filters lists the same way -----------------

def can_see_customer(user, customer) -> bool:
    """Whoever may edit it; every user when the team sees everything; a salesperson who may
    edit one of its opportunities (read-only profile)."""
    if not _authenticated(user) or customer is None:
        return False
    if can_edit_customer(user, customer) or team_sees_everything():
        return True
    return bool(db.session.execute(
        select(exists().where(Opportunity.customer_id == customer.id,
                              Opportunity.deleted_at.is_(None),
                              _editable_opportunity(Opportunity, user)))).scalar())


def visible_customers_clause(user):
    """WHERE condition on Customer: the customers `user` may see (see can_see_customer)."""
    if user is None:  # no viewer (see current_viewer): no filter
        return true()
    if not _authenticated(user):
        return false()
    if _is_manager(user) or team_sees_everything():
        return true()
    opportunity = aliased(Opportunity, name="visible_opp")
    return or_(
        _editable_customer(Customer, user),
        exists().where(opportunity.customer_id == Customer.id, opportunity.deleted_at.is_(None),
                       _editable_opportunity(opportunity, user)),
    )


def can_edit_customer(user, customer) -> bool:
    """Managers and admins; sales for their own customers and those shared with them."""
    if not _authenticated(user) or customer is None:
        return False
    if _is_manager(user):
        return True
    return owns(user, customer) or customer.id in shared_customer_ids(user)


def editable_customers_clause(user):
    """WHERE condition on Customer: the customers `user` may edit."""
    if user is None:  # no viewer (see current_viewer): no filter
        return true()
    if not _authenticated(user):
        return false()
    if _is_manager(user):
        return true()
    return _editable_customer(Customer, user)


def can_see_contact(user, contact) -> bool:
    """A contact is seen with its customer."""
    return contact is not None and can_see_customer(user, contact.customer)


def can_edit_contact(user, contact) -> bool:
    """A contact is edited by whoever may edit its customer."""
    return contact is not None and can_edit_customer(user, contact.customer)


# --- opportunities: each check beside its clause ---------------------------------------------

def can_see_opportunity(user, opportunity) -> bool:
    """Whoever may edit it; the team when it sees everything; whoever may edit its customer."""
    if not _authenticated(user) or opportunity is None:
        return False
    if can_edit_opportunity(user, opportunity) or team_sees_everything():
        return True
    return can_edit_customer(user, opportunity.customer)


def visible_opportunities_clause(user):
    """WHERE condition on Opportunity: the opportunities `user` may see (can_see_opportunity)."""
    if user is None:  # no viewer (see current_viewer): no filter
        return true()
    if not _authenticated(user):
        return false()
    if _is_manager(user) or team_sees_everything():
        return true()
    customer = aliased(Customer, name="visible_customer")
    return or_(
        _editable_opportunity(Opportunity, user),
        exists().where(customer.id == Opportunity.customer_id, _editable_customer(customer, user)),
    )


def can_edit_opportunity(user, opportunity) -> bool:
    """Managers and admins; sales for their own opportunities and those shared with them."""
    if not _authenticated(user) or opportunity is None:
        return False
    if _is_manager(user):
        return True
    return owns(user, opportunity) or opportunity.id in shared_opportunity_ids(user)


def editable_opportunities_clause(user):
    """WHERE condition on Opportunity: the opportunities `user` may edit."""
    if user is None:  # no viewer (see current_viewer): no filter
        return true()
    if not _authenticated(user):
        return false()
    if _is_manager(user):
        return true()
    return _editable_opportunity(Opportunity, user)


# --- a record named by a form field or an argument (answered as missing when hidden) ---------

def _visible_clause(user, model):
    return (visible_customers_clause(user) if model is Customer
            else visible_opportunities_clause(user))


def visible_ids(user, model, ids) -> set[int]:
    """Which of `ids` (Customer or Opportunity ids) `user` may see: one query, none when the
    user sees everything."""
    ids = {i for i in ids if i is not None}
    if not ids or sees_everything(user):
        return ids
    return set(db.session.execute(
        select(model.id).where(model.id.in_(ids), _visible_clause(user, model))).scalars())


def visible_record(user, model, record_id: int):
    """The Customer or Opportunity with this id if it exists (outside the trash) and `user`
    may see it, else None: one query."""
    return db.session.execute(
        select(model).where(model.id == record_id, _visible_clause(user, model))
    ).scalar_one_or_none()


def mark_hidden_related(user, tasks) -> None:
    """Flag on each task whether its opportunity / customer is hidden from `user`
    (task.hide_opportunity, task.hide_customer): two queries for all the tasks, none when the
    user sees everything. A task assigned to me stays mine; only the link goes."""
    tasks = list(tasks)
    if not tasks:
        return
    opportunities = visible_ids(user, Opportunity, [t.opportunity_id for t in tasks])
    customers = visible_ids(user, Customer, [t.customer_id for t in tasks])
    for task in tasks:
        task.hide_opportunity = task.opportunity_id is not None and task.opportunity_id not in opportunities
        task.hide_customer = task.customer_id is not None and task.customer_id not in customers


# --- owner and sharing -----------------------------------------------------------------------

def can_share(user, record) -> bool:
    """The owner, managers and admins share a record with others (a share grants edit)."""
    return _is_manager(user) or (_authenticated(user) and owns(user, record))


def can_reassign(user, record=None) -> bool:
    """Only managers and admins give a record to another owner."""
    return _is_manager(user)


def can_set_owner(user, record, new_owner_id) -> bool:
    """May `user` make `new_owner_id` the owner of `record` (None: a record being created)?

    Managers and admins: anyone. Sales: no change at all; on a new record themselves or
    nobody; on an unowned record they may edit, themselves (taking it).
    """
    if not _authenticated(user):
        return False
    if can_reassign(user, record):
        return True
    if record is None:
        return new_owner_id in (None, user.id)
    if new_owner_id == record.owner_id:
        return True
    return record.owner_id is None and new_owner_id == user.id


def can_take(user, record) -> bool:
    """A salesperson may take an unowned record they can edit."""
    if not _authenticated(user) or record is None or record.owner_id is not None:
        return False
    editable = (can_edit_customer if isinstance(record, Customer) else can_edit_opportunity)
    return editable(user, record)


def can_change_owner(user, record, owner_id: int | None) -> bool:
    """May `user` change the owner of `record` to `owner_id` from its sharing panel? Managers
    and admins give a record to anyone; a salesperson only takes an unowned record they may
    edit (owner_id: themselves). What they may choose is can_set_owner on the record's form."""
    if can_reassign(user, record):
        return True
    return (_authenticated(user) and owner_id is not None and owner_id == user.id
            and can_take(user, record))


# --- notes -----------------------------------------------------------------------------------

def can_see_note(user, note) -> bool:
    """A note is read by whoever sees its opportunity, else its customer (see
    visible_notes_clause)."""
    if note.opportunity is not None:
        return can_see_opportunity(user, note.opportunity)
    if note.customer is None and note.lead_id is not None:
        return can_see_lead(user, note.lead)
    return note.customer is None or can_see_customer(user, note.customer)


def visible_notes_clause(user):
    """WHERE condition on Note, for the notes of a record `user` may see: those not on an
    opportunity hidden from them (a read-only customer profile does not show its opportunities
    the user may not see, nor their notes)."""
    if sees_everything(user):
        return true()
    visible = select(Opportunity.id).where(visible_opportunities_clause(user)).correlate(None)
    return or_(Note.opportunity_id.is_(None), Note.opportunity_id.in_(visible))


def can_edit_note(user, note) -> bool:
    """Only its author or an admin edits or deletes a note (one they may see: can_see_note);
    a note on a lead (not yet a customer's) also needs the lead editable: can_edit_lead, and
    not converted."""
    if not (_authenticated(user) and (user.is_admin or user.id == note.author_id)):
        return False
    if note.customer_id is None and note.lead_id is not None:
        return note.lead is not None and not note.lead.read_only and can_edit_lead(user, note.lead)
    return True


# --- tasks -----------------------------------------------------------------------------------

def can_edit_task(user, task) -> bool:
    """The assignee, the creator, managers and admins may edit, tick off and delete a task."""
    if not _authenticated(user):
        return False
    if user.is_manager:
        return True
    return user.id in (task.assignee_id, task.created_by_id)


# --- saved segments --------------------------------------------------------------------------

def can_change_segment(user, segment) -> bool:
    """A saved segment is its author's alone (see own_segments_clause)."""
    return _authenticated(user) and segment.user_id == user.id


def own_segments_clause(user):
    """WHERE condition on Segment: the segments `user` saved."""
    return Segment.user_id == user.id


# --- the trash -------------------------------------------------------------------------------

def visible_batches_clause(user, heads):
    """WHERE on the heads of the trash's batches (crm.trash.queries.batch_heads): the batches
    `user` may see. Managers and admins see all (and anyone who sees everything); others the
    batches they deleted, and those whose record they could see (the visibility rules above,
    applied to the record and its customer)."""
    # cycle: crm.trash.queries lists its batches with this clause.
    from crm.trash.queries import BATCH_FIELD
    if sees_everything(user):
        return true()
    deleted_by_me = select(AuditEntry.id).where(
        AuditEntry.action == "delete", AuditEntry.field == BATCH_FIELD,
        AuditEntry.new_value == heads.c.batch, AuditEntry.user_id == user.id)
    visible_customer = select(Customer.id).where(
        Customer.id == heads.c.customer_id, visible_customers_clause(user))
    visible_opportunity = select(Opportunity.id).where(
        Opportunity.id == heads.c.opportunity_id, visible_opportunities_clause(user))
    return or_(heads.c.owner_id == user.id, deleted_by_me.exists(),
               and_(heads.c.kind != "opportunity", visible_customer.exists()),
               and_(heads.c.kind.in_(("opportunity", "note", "task")),
                    visible_opportunity.exists()))


def can_see_batch(user, item) -> bool:
    """A batch of the trash (a crm.trash.queries.Batch) that visible_batches_clause lets
    `user` see: one query."""
    # cycle: crm.trash.queries lists its batches with visible_batches_clause.
    from crm.trash.queries import batch_heads, including_deleted
    if not _authenticated(user):
        return False
    heads = batch_heads(kinds=(item.kind,), batch=item.batch)
    return bool(db.session.execute(including_deleted(
        select(func.count()).select_from(heads).where(visible_batches_clause(user, heads)))
    ).scalar_one())


def can_restore(user, item) -> bool:
    """A batch of the trash comes back for the person who deleted it, the record's owner,
    managers and admins."""
    if not _authenticated(user):
        return False
    return bool(user.is_manager or user.id in (item.deleted_by_id, item.owner_id))


def can_purge(user) -> bool:
    """Only admins delete from the trash for good."""
    return bool(_authenticated(user) and user.is_admin)


# --- custom fields ---------------------------------------------------------------------------

def can_define_fields(user) -> bool:
    """Only admins define custom fields (/admin/fields)."""
    return bool(_authenticated(user) and user.is_admin)


def can_see_field(user, field) -> bool:
    """A custom field marked restricted ("visible to managers and admins only") is hidden from
    everyone else: on pages, fragments, lists and filters (its filter is ignored), and in the
    search keys. Other fields follow the record's own rules."""
    if not getattr(field, "restricted", False):
        return True
    return _is_manager(user) or user is None


def visible_fields_of(user, fields) -> list:
    """The fields of a list (crm.fields.queries.definitions) `user` may see: the Python side of
    the rule above (definitions are loaded once per request, so there is no SQL clause: a
    hidden field's expression is never put into a query)."""
    return [field for field in fields if can_see_field(user, field)]


def hidden_field_entries_clause(user, keys_by_entity: dict[str, list[str]]):
    """WHERE on the audit trail: the entries of restricted custom fields (`keys_by_entity`:
    audited table -> keys, crm.fields.queries.restricted_keys) left out for anyone but
    managers and admins, as the fields themselves are (can_see_field)."""
    if _is_manager(user) or not any(keys_by_entity.values()):
        return true()
    hidden = [and_(AuditEntry.entity == entity, AuditEntry.field.startswith(f"cf_{key}:", autoescape=True))
              for entity, keys in keys_by_entity.items() for key in keys]
    return or_(AuditEntry.field.is_(None), ~or_(*hidden))


# --- background jobs -------------------------------------------------------------------------

def can_see_job(user, job) -> bool:
    """A job's page (its progress, result and error) is its owner's, and any admin's."""
    return _authenticated(user) and job is not None and (user.is_admin or job.user_id == user.id)


def can_download_job_file(user, job) -> bool:
    """The file a job made (an export holds what its owner may see) goes to its owner only."""
    return _authenticated(user) and job is not None and job.user_id == user.id


# --- imports (crm/imports) -------------------------------------------------------------------

def can_import(user) -> bool:
    """Everyone signed in may import (/import): a salesperson's imported records are their own
    (can_import_owner), and they update only records they may edit; managers and admins
    import for anyone."""
    return _authenticated(user)


def can_import_owner(user, owner_id: int | None) -> bool:
    """An imported record's owner: anyone for managers and admins (the owner column); a
    salesperson only themselves (or nobody: then themselves)."""
    if user is None:  # the CLI (crm import-maven)
        return True
    return _is_manager(user) or owner_id in (None, user.id)


def can_see_import(user, imp) -> bool:
    """An import (its page, preview, rejects) is its owner's, and any admin's."""
    return _authenticated(user) and imp is not None and (user.is_admin or imp.user_id == user.id)


def can_undo_import(user, imp) -> bool:
    """Undoing an import moves what it created to the trash: its owner, or an admin."""
    return can_see_import(user, imp)


# --- leads (issue 11): the customers' rules, without shares -----------------------------------

def can_edit_lead(user, lead) -> bool:
    """Managers and admins; a salesperson their own leads (owned, or created and unowned)."""
    if not _authenticated(user) or lead is None:
        return False
    return _is_manager(user) or owns(user, lead)


def can_see_lead(user, lead) -> bool:
    """Whoever may edit it; every user when the team sees everything."""
    if not _authenticated(user) or lead is None:
        return False
    return can_edit_lead(user, lead) or team_sees_everything()


def visible_leads_clause(user):
    """WHERE condition on Lead: the leads `user` may see (see can_see_lead)."""
    if user is None:
        return true()
    if not _authenticated(user):
        return false()
    if _is_manager(user) or team_sees_everything():
        return true()
    return _own_clause(Lead, user)


def editable_leads_clause(user):
    """WHERE condition on Lead: the leads `user` may edit."""
    if not _authenticated(user):
        return false()
    if _is_manager(user):
        return true()
    return _own_clause(Lead, user)


def can_convert_lead(user, lead) -> bool:
    """Who may edit it, when its BANT is all yes; a manager or admin decides otherwise."""
    from crm.models import BANT_KEYS
    if not can_edit_lead(user, lead) or lead.status in ("converted", "disqualified"):
        return False
    bant = lead.bant or {}
    return _is_manager(user) or all(bant.get(key) == "yes" for key in BANT_KEYS)


def can_manage_scoring(user) -> bool:
    return _authenticated(user) and user.is_admin


# --- capture (issue 11): web forms and assignment rules ---------------------------------------

def can_manage_capture(user) -> bool:
    """The public web forms and the assignment rules of new leads: admins."""
    return _authenticated(user) and user.is_admin
# --- the public pool (crm/pools) ----------------------------------------------------------------

def can_manage_pools(user) -> bool:
    """Only admins define pools, their rules and the customer levels (/admin/pools)."""
    return _authenticated(user) and user.is_admin


def can_use_pool(user, pool) -> bool:
    """Who lists and claims from a pool: managers and admins every pool; others when the pool
    names them or their role, or names nobody (open to everyone). A disabled pool: nobody."""
    if not _authenticated(user) or pool is None or not pool.enabled:
        return False
    if _is_manager(user) or not pool.members:
        return True
    return any(m.user_id == user.id or (m.role and m.role == user.role) for m in pool.members)


def can_see_pool_record(user, record, pool) -> bool:
    """A record in a pool (nobody's) is seen by the pool's members on its pool page (its
    history and notes, contact details masked if the pool says so); else the record's own
    rules apply."""
    return record is not None and record.owner_id is None and can_use_pool(user, pool)


def can_release(user, record) -> bool:
    """Its owner releases a record to the pool (managers too)."""
    return _authenticated(user) and record is not None and record.owner_id is not None and (
        record.owner_id == user.id or _is_manager(user))


def can_transfer(user) -> bool:
    """转移 and assignment from the pool: managers and admins."""
    return _is_manager(user)


def can_lock(user, customer) -> bool:
    """锁定: the customer's owner (managers may unlock)."""
    return _authenticated(user) and customer is not None and customer.owner_id == user.id
