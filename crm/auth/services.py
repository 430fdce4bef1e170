"""Account rules: first-run detection, user creation."""
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


def forget_has_users() -> None:
    """For tests that empty the database."""
    current_app.extensions.setdefault("crm_state", {})["has_users"] = False


def create_user(*, email: str, name: str, password: str, role: str = "sales",
                language: str = "zh_CN", timezone: str = "Asia/Shanghai") -> User:
    """Create and add (not commit) a user; the email is stored lower-cased."""
    user = User(email=User.normalise_email(email), name=name.strip(), role=role,
                language=language, timezone=timezone, active=True)
    user.set_password(password)
    db.session.add(user)
    return user
