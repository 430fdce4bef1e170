"""Reads about accounts: whether the first admin exists yet (first-run detection)."""
from flask import current_app

from crm.extensions import db
from crm.models import User


def has_users() -> bool:
    """Whether the first admin exists; remembered once true, so it costs no query after."""
    state = current_app.extensions.setdefault("crm_state", {})
    if state.get("has_users"):
        return True
    exists = db.session.execute(db.select(User.id).limit(1)).first() is not None
    if exists:
        state["has_users"] = True
    return exists
