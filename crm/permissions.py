"""Permission checks, called in the views (pages and fragments alike)."""
from functools import wraps

from flask import abort
from flask_login import current_user


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


def can_see_customer(user, customer) -> bool:
    """Every user sees every customer for now; issue 4 narrows this for sales."""
    return user.is_authenticated


def can_edit_customer(user, customer) -> bool:
    """Managers, admins and the owner edit a customer; sales edit their own and unowned ones."""
    if user.is_manager:
        return True
    return customer.owner_id in (None, user.id) or customer.created_by_id == user.id


def can_edit_opportunity(user, opportunity) -> bool:
    if user.is_manager:
        return True
    return opportunity.owner_id in (None, user.id) or opportunity.created_by_id == user.id
