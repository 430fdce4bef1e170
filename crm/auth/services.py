"""Account rules: creating a user (the first admin at setup, the admin's user form, the
create-user command), and what users change of their own account. Nothing here commits; a
refusal is a crm.rules.RuleError naming the form field at fault."""
from flask_babel import gettext as _

from crm.auth import sessions
from crm.extensions import db
from crm.models import LANGUAGES, User
from crm.rules import RuleError


def create_user(*, email: str, name: str, password: str, role: str = "sales",
                language: str = "zh_CN", timezone: str = "Asia/Shanghai") -> User:
    """Create and add (not commit) a user; the email is stored lower-cased."""
    user = User(email=User.normalise_email(email), name=name.strip(), role=role,
                language=language, timezone=timezone, active=True)
    user.set_password(password)
    db.session.add(user)
    return user


def update_account(user: User, *, name: str, language: str, timezone: str) -> None:
    """My own name, language and time zone."""
    user.name = name.strip()
    user.language = language
    user.timezone = timezone


def set_language(user: User, language: str | None) -> bool:
    """Switch the interface language; False (nothing changed) for a language the CRM lacks."""
    if language not in LANGUAGES:
        return False
    user.language = language
    return True


def change_password(user: User, *, current_password: str, new_password: str) -> None:
    """Changing my own password asks for the current one first. The new one ends my other
    sessions; this browser stays logged in (crm.auth.sessions.password_changed)."""
    if not user.check_password(current_password):
        raise RuleError(_("The current password is wrong."), field="current_password")
    user.set_password(new_password)
    sessions.password_changed(user)
