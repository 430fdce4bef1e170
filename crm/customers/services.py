"""The rules and writes of customers: creating and changing one (who may be its owner), its
tags (alone and in bulk), its contacts (one primary), saved segments. Nothing here commits:
the route ends the unit of work; a refusal is a crm.rules.RuleError naming its form field."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.customers.queries import CustomerFilter, customers_for_bulk
from crm.extensions import db
from crm.fields.services import apply_values
from crm.models import Contact, Customer, Segment, Tag, Task, User, utcnow
from crm.permissions import can_edit_customer, can_set_owner
from crm.pools.services import check_level
from crm.rules import RuleError
from crm.tags.services import apply_tag
from crm.tasks.services import create_task

# The start of a share request's task title, whatever the language (how a repeat is found).
SHARE_REQUEST_PREFIX = "⇄ "

# What the customer form sets, and the contact form.
CUSTOMER_FIELDS = ("kind", "name", "industry", "region", "city", "size", "source", "phone",
                   "email", "website", "address", "owner_id", "description")
CONTACT_FIELDS = ("name", "title", "phone", "email")



# --- A customer ---------------------------------------------------------------------------


def check_owner(user, customer: Customer | None, owner_id: int | None) -> None:
    """Only managers and admins give a customer to someone else (crm.permissions
    can_set_owner: sales choose themselves or nobody on a new customer, take an unowned one,
    or keep the owner); anything else is a RuleError on owner_id."""
    if not can_set_owner(user, customer, owner_id):
        raise RuleError(_l("Only managers and admins can give a customer to someone else."),
                        field="owner_id")


def save_customer(user, customer: Customer | None, fields: dict, custom: dict | None = None) -> Customer:
    """Create a customer (`customer` None: `user` is its creator) or change one, from
    `fields` (CUSTOMER_FIELDS, and level_id when given) and `custom` (custom field values by key, parsed: the rules
    of crm.fields.services.apply_values). Rules: the owner is one `user` may set
    (check_owner); the search keys follow the name, phone, email and text custom fields.
    Added to the session, not committed."""
    check_owner(user, customer, fields.get("owner_id"))
    new = customer is None
    if new:
        customer = Customer(created_by_id=user.id, custom={})
    for name in CUSTOMER_FIELDS:
        if name in fields:
            setattr(customer, name, fields[name])
    if "level_id" in fields:  # 客户级别, kept apart from the merge's CUSTOMER_FIELDS
        check_level(fields["level_id"])
        customer.level_id = fields["level_id"]
    if custom:
        apply_values(customer, "customer", custom, user)
    customer.rebuild_search_index()
    if new:
        db.session.add(customer)
    return customer


def create_customer(user, fields: dict, *, contact: dict | None = None,
                    tags: list[Tag] = (), custom: dict | None = None) -> Customer:
    """A new customer with, from the same form, its first contact (`contact`: CONTACT_FIELDS,
    None for none) and its tags. The rules of each: save_customer's (the owner), set_tags's
    (one tag per single-choice group: a RuleError on tag_ids), save_contact's (the first
    contact is the primary one; the search keys include it). The customer is flushed before
    its tags and contact go on, so that the audit trail records them as it does on the
    customer page (the tags as an update of the customer, the contact's "create"). Not
    committed: after a RuleError the route rolls back and nothing is saved."""
    customer = save_customer(user, None, fields, custom)
    db.session.flush()
    set_tags(customer, list(tags), refuse_several=True)
    if contact is not None:
        save_contact(customer, Contact(), primary=True, **contact)
    return customer


# --- Tags ---------------------------------------------------------------------------------


def add_tag(customer: Customer, tag: Tag) -> bool:
    """Put `tag` on the customer; in a single-choice group it replaces the group's other tag
    (the rule's one home: crm.tags.services.apply_tag). True when the customer's tags changed."""
    if tag in customer.tags:
        return False
    apply_tag(customer, tag)
    customer.updated_at = utcnow()
    return True


def remove_tag(customer: Customer, tag: Tag) -> bool:
    """Take `tag` off the customer; True when it was there."""
    if tag not in customer.tags:
        return False
    customer.tags.remove(tag)
    customer.updated_at = utcnow()
    return True


def set_tags(customer: Customer, tags: list[Tag], *, refuse_several: bool = False) -> None:
    """Make the customer's tags exactly `tags`, keeping single-choice groups to one tag each
    (add_tag): when several of one such group are given, the last one wins, or with
    `refuse_several` a RuleError on tag_ids names the group (nothing here decides which tags
    may go together: it sees that one of those given did not stay on)."""
    for tag in list(customer.tags):
        if tag not in tags:
            customer.tags.remove(tag)
    for tag in tags:
        add_tag(customer, tag)
    if refuse_several:
        dropped = [tag for tag in tags if tag not in customer.tags]
        if dropped:
            raise RuleError(_l("%(group)s takes one tag only: choose one of its tags.",
                               group=dropped[0].group.name), field="tag_ids")


def check_tags(tags: list[Tag]) -> None:
    """Whether `tags` may be one customer's tags together: set_tags's refusal (two tags of a
    single-choice group), tried on a customer outside the session, so that nothing is written
    (the new-customer form asks before it looks for duplicates)."""
    set_tags(Customer(), tags, refuse_several=True)


def bulk_tag(customers: list[Customer], tag: Tag, action: str) -> int:
    """Add or remove `tag` on every customer (tags preloaded); how many changed."""
    change = add_tag if action == "add" else remove_tag
    return sum(1 for customer in customers if change(customer, tag))


def tag_selected(user, customer_ids: list[int], tag: Tag | None, action: str | None) -> tuple[int, int]:
    """The list's bulk tagging: add or remove `tag` on the selected customers; returns
    (how many changed, how many were skipped).

    Rules: a tag and an action, "add" or "remove" (else RuleError on tag_id); at least one
    customer (else RuleError on customer_id); the ids of customers `user` may not see are not
    selected at all, like ids that exist nowhere; of the others only those `user` may edit
    change, the rest are skipped; a single-choice group keeps one tag (add_tag)."""
    if action not in ("add", "remove") or tag is None:
        raise RuleError(_l("Choose a tag, then Add or Remove."), field="tag_id")
    if not customer_ids:
        raise RuleError(_l("Select at least one customer."), field="customer_id")
    selected = customers_for_bulk(customer_ids, user)
    editable = [c for c in selected if can_edit_customer(user, c)]
    return bulk_tag(editable, tag, action), len(selected) - len(editable)


# --- Contacts -----------------------------------------------------------------------------


def save_contact(customer: Customer, contact: Contact, *, primary: bool, custom: dict | None = None,
                 user=None, **fields) -> Contact:
    """Attach or update a contact (`fields`: CONTACT_FIELDS); at most one primary contact per
    customer.

    Marking a contact primary takes the flag off the others. A customer's first contact
    is its primary one. The customer's search keys follow its contacts. `custom`: the
    contact's custom field values (crm.fields.services.apply_values, as `user` may set them).
    """
    for name in CONTACT_FIELDS:
        if name in fields:
            setattr(contact, name, fields[name])
    if contact.custom is None:
        contact.custom = {}
    if custom:
        apply_values(contact, "contact", custom, user)
    if contact not in customer.contacts:
        if not customer.contacts:
            primary = True
        customer.contacts.append(contact)
    if primary:
        for other in customer.contacts:
            if other is not contact:
                other.is_primary = False
    contact.is_primary = primary
    customer.rebuild_search_index()
    customer.updated_at = utcnow()
    return contact


# --- Segments -----------------------------------------------------------------------------


def save_segment(user, name: str, query: str) -> Segment:
    """Save a filter under a name; the page number is never part of it.

    Saving again under one of my names replaces that segment's filter.
    """
    query = CustomerFilter.from_query_string(query).segment_query
    name = name.strip()
    segment = db.session.execute(
        db.select(Segment).where(Segment.user_id == user.id, Segment.name == name)
    ).scalar_one_or_none()
    if segment is None:
        segment = Segment(name=name, user_id=user.id)
        db.session.add(segment)
    segment.query = query
    return segment


def delete_segment(segment: Segment) -> None:
    """Delete a segment (its owner's: crm.permissions.can_change_segment)."""
    db.session.delete(segment)


# --- Asking for a customer one may not see (查重) --------------------------------------------

def request_share(requester, customer: Customer, searched: str = "") -> tuple[User, bool]:
    """Ask the owner of `customer` (which `requester` may not see) to share it: an open task
    for the owner (an unowned customer's request goes to the first active admin), related to
    the customer, due now. Its title names the requester and what they searched for, never
    the customer (the requester sees the tasks they created). One open request per requester
    and customer: asking again changes nothing. Returns (who was asked, whether a task was
    added)."""
    assignee = customer.owner if customer.owner is not None and customer.owner.active else None
    if assignee is None:
        assignee = db.session.execute(
            db.select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id)
        ).scalars().first()
    if assignee is None:
        raise RuleError(_l("Nobody can share this customer with you."), field=None)
    already = db.session.execute(db.select(Task.id).where(
        Task.customer_id == customer.id, Task.created_by_id == requester.id,
        Task.assignee_id == assignee.id, Task.done.is_(False),
        Task.title.like(f"{SHARE_REQUEST_PREFIX}%"))).first()
    if already is not None:
        return assignee, False
    searched = " ".join((searched or "").split())[:80]
    with force_locale(assignee.language or "en"):  # the owner reads it
        title = (_("%(prefix)s%(name)s asks you to share a customer (searched for “%(searched)s”)",
                   prefix=SHARE_REQUEST_PREFIX, name=requester.name, searched=searched)
                 if searched else
                 _("%(prefix)s%(name)s asks you to share a customer",
                   prefix=SHARE_REQUEST_PREFIX, name=requester.name))
    create_task(title=title[:200], due_at=utcnow(), assignee=assignee, created_by=requester,
                customer_id=customer.id)
    return assignee, True
