"""The rules of managing users: what an admin may change about a user (and about themselves).
Nothing here commits; a refusal is a crm.rules.RuleError naming the form field at fault."""
from flask_babel import gettext as _

from crm.auth import sessions
from crm.models import User
from crm.rules import RuleError


def update_user(user: User, *, by: User, name: str, email: str, role: str, language: str,
                timezone: str, password: str | None = None) -> None:
    """Change a user's name, email, role, language, time zone and (when given) password. An
    admin cannot take away their own administrator role (someone must stay able to manage the
    workspace). A new password ends the user's sessions (the admin's own: all but this one)."""
    if user.id == by.id and role != "admin":
        raise RuleError(_("You cannot take away your own administrator role."), field="role")
    user.name = name.strip()
    user.email = User.normalise_email(email)
    user.role = role
    user.language = language
    user.timezone = timezone
    if password:
        user.set_password(password)
        sessions.password_changed(user)


def deactivate_user(user: User, *, by: User) -> None:
    """A deactivated user cannot log in and is logged out everywhere at once; everything they
    own stays. Nobody deactivates themselves."""
    if user.id == by.id:
        raise RuleError(_("You cannot deactivate yourself."))
    user.active = False
    sessions.end_all(user.id)


def reactivate_user(user: User) -> None:
    """A reactivated user can log in again."""
    user.active = True
