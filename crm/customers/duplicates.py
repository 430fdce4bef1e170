"""The duplicate check (查重) for the customers a user may not see: a salesperson who searches
for, or starts to enter, a customer that someone else owns learns that it exists and who owns
it — the owner's name, never another field of the record — and may ask the owner to share it
(a task for the owner); and the possible duplicates of a customer being entered, the
visible ones named, the others said to exist."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, literal, or_
from sqlalchemy.orm import joinedload

from crm.extensions import db
from crm.models import Contact, Customer, User
from crm.permissions import sees_everything, visible_customers_clause, visible_ids
from crm.search import like_escape, normalise

TOKEN_SALT = "customer-share-request"
TOKEN_MAX_AGE = 7 * 24 * 3600  # a week: the page may stay open


@dataclass(frozen=True)
class HiddenMatch:
    """A customer the user may not see: what they are told about it."""
    owner_name: str | None
    token: str  # names the customer for a share request, without showing its id
    message: str | None = None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def share_token(customer_id: int) -> str:
    """An opaque, signed name of a customer, for its share request."""
    return _serializer().dumps(customer_id)


def customer_of_token(token: str | None) -> Customer | None:
    """The customer a share token names (None: forged, expired, or the customer is gone)."""
    try:
        customer_id = _serializer().loads(token or "", max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(customer_id, int):
        return None
    return db.session.get(Customer, customer_id)


def hidden_matches(conditions: list, limit: int = 3) -> list[HiddenMatch]:
    """Customers meeting `conditions` (a search's WHERE) that the signed-in user may not see,
    with their owners' names: one query, none for someone who sees everything."""
    if not conditions or sees_everything(current_user):
        return []
    visible = db.select(Customer.id).where(visible_customers_clause(current_user))
    rows = db.session.execute(
        db.select(Customer.id, User.name)
        .outerjoin(User, User.id == Customer.owner_id)
        .where(*conditions, Customer.id.not_in(visible))
        .order_by(Customer.id).limit(limit)).all()
    return [HiddenMatch(owner_name=owner, token=share_token(customer_id))
            for customer_id, owner in rows]


# --- Possible duplicates of a customer being entered -------------------------------------

def digits(value: str | None) -> str:
    """The digits of a phone number."""
    return "".join(ch for ch in (value or "") if ch.isdigit())


def find_duplicates(*, name: str | None = None, phone: str | None = None,
                    email: str | None = None, exclude_id: int | None = None,
                    contact_phone: str | None = None, contact_email: str | None = None,
                    limit: int = 10) -> list[Customer]:
    """Customers that may be the one being entered: same name, phone or email.

    Names compare without case and spaces, and a name of four or more characters inside
    the other counts too; phones by their last eight digits (at least 5 typed);
    emails without case. Contacts' phones and emails count too, and so do those of the new
    customer's first contact (`contact_phone`, `contact_email`), like its own.
    """
    conditions = []
    contact_conditions = []
    name_key = normalise(name or "")
    if name_key:
        stored = func.lower(func.replace(Customer.name, " ", ""))
        conditions.append(stored == name_key)
        if len(name_key) >= 4:
            # "星辰科技" and "北京星辰科技有限公司" are probably one company, both ways round.
            conditions.append(stored.like(f"%{like_escape(name_key)}%", escape="\\"))
            conditions.append(db.and_(func.length(stored) >= 4,
                                      literal(name_key).like("%" + stored + "%")))
    for typed_phone in dict.fromkeys(phone_keys(phone, contact_phone)):
        conditions.append(phone_matches(Customer.phone, typed_phone))
        contact_conditions.append(phone_matches(Contact.phone, typed_phone))
    for email_key in dict.fromkeys(_email_keys(email, contact_email)):
        conditions.append(func.lower(Customer.email) == email_key)
        contact_conditions.append(func.lower(Contact.email) == email_key)
    if contact_conditions:
        conditions.append(Customer.id.in_(
            db.select(Contact.customer_id).where(or_(*contact_conditions))))
    if not conditions:
        return []
    stmt = (db.select(Customer).where(or_(*conditions)).options(joinedload(Customer.owner))
            .order_by(Customer.name).limit(limit))
    if exclude_id is not None:
        stmt = stmt.where(Customer.id != exclude_id)
    return list(db.session.execute(stmt).scalars().unique())


def phone_keys(*phones) -> list[str]:
    """What a typed phone is compared by: its last eight digits, when at least 5 were typed."""
    return [digits(phone)[-8:] for phone in phones if len(digits(phone)) >= 5]


def phone_matches(column, key: str):
    """`column` (a stored phone) ends with `key` (phone_keys) once its spaces, dashes,
    brackets, plus signs and dots are gone: "+86 138-0013-8000" and "13800138000" are one
    number."""
    stripped = column
    for ch in (" ", "-", "(", ")", "+", "."):
        stripped = func.replace(stripped, ch, "")
    return stripped.like(f"%{like_escape(key)}", escape="\\")


def _email_keys(*emails) -> list[str]:
    return [email.strip().lower() for email in emails if email and email.strip()]


def visible_duplicates(*, name=None, phone=None, email=None, exclude_id=None,
                       contact_phone=None, contact_email=None):
    """The possible duplicates I may see, and for those I may not a HiddenMatch each: what
    it shares with the input and who owns it (never its name or a link): (customers, hidden).
    `contact_phone` and `contact_email`: a new customer's first contact's (find_duplicates)."""
    found = find_duplicates(name=name, phone=phone, email=email, exclude_id=exclude_id,
                            contact_phone=contact_phone, contact_email=contact_email)
    visible = visible_ids(current_user, Customer, [c.id for c in found])
    typed_phones = phone_keys(phone, contact_phone)
    email_keys = _email_keys(email, contact_email)
    hidden = []
    for other in found:
        if other.id in visible:
            continue
        if any(digits(other.phone).endswith(key) for key in typed_phones):
            message = _("A customer you cannot see already uses this phone number.")
        elif (other.email or "").lower() in email_keys:
            message = _("A customer you cannot see already uses this email.")
        elif name and normalise(name) and normalise(name) in normalise(other.name or ""):
            message = _("A customer you cannot see already has this name.")
        else:
            message = _("A customer you cannot see has a similar name, or a contact with this "
                        "phone number or email.")
        hidden.append(HiddenMatch(owner_name=other.owner.name if other.owner else None,
                                  token=share_token(other.id), message=message))
    return [c for c in found if c.id in visible], hidden
