"""Reads of capture: the admins' lists of web forms and assignment rules, the choices their
forms offer, a public form by its key, and the custom fields a form may ask for."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.fields import queries as field_queries
from crm.models import AssignmentRule, CustomField, User, WebForm

BUILT_IN_NAMES = {"name": _l("Name"), "company": _l("Company"), "title": _l("Title"),
                  "phone": _l("Phone"), "mobile": _l("Mobile"), "email": _l("Email"),
                  "wechat": _l("WeChat"), "region": _l("Region"), "address": _l("Address"),
                  "message": _l("Message")}
MODE_NAMES = {"owner": _l("A fixed owner"), "round_robin": _l("Round-robin among users"),
              "pool": _l("The pool (nobody yet)")}
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
# A user field would show the team's names to the public: not offered.
PUBLIC_FIELD_TYPES_EXCLUDED = ("user",)


def forms() -> list[WebForm]:
    return list(db.session.execute(
        db.select(WebForm).options(selectinload(WebForm.rule), selectinload(WebForm.source))
        .order_by(WebForm.name, WebForm.id)).scalars())


def rules() -> list[AssignmentRule]:
    return list(db.session.execute(
        db.select(AssignmentRule).options(selectinload(AssignmentRule.owner),
                                          selectinload(AssignmentRule.members))
        .order_by(AssignmentRule.name, AssignmentRule.id)).scalars())


def users() -> list[User]:
    """Active users, for a rule's owner and members."""
    return list(db.session.execute(db.select(User).where(User.active.is_(True))
                                   .order_by(User.name, User.id)).scalars())


def custom_fields() -> list[CustomField]:
    """The lead custom fields a public form may ask for (every live one, restricted included:
    the visitor fills it, the team's rules decide who reads it)."""
    return [f for f in field_queries.definitions("lead", everyone=True)
            if f.type not in PUBLIC_FIELD_TYPES_EXCLUDED]


def field_choices(locale: str) -> list[tuple[str, str]]:
    """(input name, label) of everything a form may ask for: built-in, then custom."""
    return ([(name, str(label)) for name, label in BUILT_IN_NAMES.items()]
            + [(f.input_name, f.label(locale)) for f in custom_fields()])


def public_form(key: str) -> WebForm | None:
    """The active form with this key (None: no such form, or switched off)."""
    if not key or len(key) > 64:
        return None
    return db.session.execute(
        db.select(WebForm).options(selectinload(WebForm.rule))
        .where(WebForm.key == key, WebForm.active.is_(True))).scalar()
