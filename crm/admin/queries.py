"""Reads of the admin pages: the user list."""
from crm.extensions import db
from crm.models import User


def users_in_order() -> list[User]:
    """Every user, active first, then by name."""
    return list(db.session.execute(
        db.select(User).order_by(User.active.desc(), User.name)).scalars())
