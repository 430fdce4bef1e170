"""Account rules: creating a user (the first admin at setup, the admin's user form, the
create-user command). Nothing here commits."""
from crm.extensions import db
from crm.models import User


def create_user(*, email: str, name: str, password: str, role: str = "sales",
                language: str = "zh_CN", timezone: str = "Asia/Shanghai") -> User:
    """Create and add (not commit) a user; the email is stored lower-cased."""
    user = User(email=User.normalise_email(email), name=name.strip(), role=role,
                language=language, timezone=timezone, active=True)
    user.set_password(password)
    db.session.add(user)
    return user
