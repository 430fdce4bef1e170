"""The duplicate check (查重) for the customers a user may not see: a salesperson who searches
for, or starts to enter, a customer that someone else owns learns that it exists and who owns
it — the owner's name, never another field of the record — and may ask the owner to share it
(a task for the owner). The customers they may see are found by crm.customers.queries."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from crm.extensions import db
from crm.models import Customer, User
from crm.permissions import sees_everything, visible_customers_clause

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
