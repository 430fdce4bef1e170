"""Web forms' rules and writes: an admin's form (its redirect URL, framing origins, fields),
the signed fill-time token, and a submission (a new lead, or a note on the open lead with the
same email or phone). No commit inside: the route commits or rolls back."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_

from crm.customers.duplicates import phone_keys, phone_matches
from crm.extensions import db
from crm.leads import services as lead_services
from crm.leads.assignment import assign_new_lead
from crm.models import LANGUAGES, WEBFORM_FIELDS, Lead, LeadSource, Note, WebForm, utcnow
from crm.rules import RuleError

TOKEN_SALT = "webform-fill"
# A person takes some seconds to fill a form; a bot posts at once. A page left open longer
# than a day asks to send again (the form is refilled).
MIN_FILL_SECONDS = 3
MAX_FILL_SECONDS = 24 * 3600
MAX_ORIGINS = 20
ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:[0-9]{1,5})?$")
CLOSED_STATUSES = ("converted", "disqualified")


class TokenError(RuleError):
    """The form's timing token is missing, forged, for another form, expired or too young."""

    def __init__(self, reason: str, message):
        super().__init__(message, field=None)
        self.reason = reason


# --- An admin's form -------------------------------------------------------------------------

def check_redirect_url(url: str | None) -> str | None:
    """A thank-you redirect: an absolute http or https URL with a host, no spaces; or none."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if (parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500
            or any(ch.isspace() or ord(ch) < 32 for ch in url)):
        raise RuleError(_l("Enter an address starting with http:// or https://."),
                        field="redirect_url")
    return url


def parse_origins(text: str | None) -> list[str]:
    """The origins allowed to frame the form, one per line or space: scheme://host[:port]."""
    origins = []
    for raw in (text or "").split():
        origin = raw.strip().rstrip("/").lower()
        if not ORIGIN.match(origin):
            raise RuleError(_l("“%(origin)s” is not an origin like https://www.example.com.",
                               origin=raw[:100]), field="frame_origins")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise RuleError(_l("List at most %(count)s origins.", count=MAX_ORIGINS),
                        field="frame_origins")
    return origins


def save_form(web_form: WebForm | None, values: dict, *, custom_inputs: set[str]) -> WebForm:
    """Create (web_form None: a new random key) or change a web form. Rules: a name; a language
    of the app's; the fields are built-in lead fields or lead custom fields (`custom_inputs`,
    their cf_<key> names), `name` always first; a redirect URL is http(s); framing origins are
    scheme://host[:port]; a form without a source takes the built-in "web form" source."""
    name = (values.get("name") or "").strip()
    if not name:
        raise RuleError(_l("Enter a name."), field="name")
    if values.get("language") not in LANGUAGES:
        raise RuleError(_l("Choose a language."), field="language")
    fields = ["name"] + [f for f in dict.fromkeys(values.get("fields") or ())
                         if f != "name" and (f in WEBFORM_FIELDS or f in custom_inputs)]
    redirect_url = check_redirect_url(values.get("redirect_url"))
    origins = parse_origins(values.get("frame_origins"))
    if web_form is None:
        web_form = WebForm(key=secrets.token_urlsafe(24))
        db.session.add(web_form)
    web_form.name = name[:100]
    web_form.title = (values.get("title") or "").strip()[:200] or None
    web_form.language = values["language"]
    web_form.fields = fields
    web_form.thank_you = (values.get("thank_you") or "").strip()[:2000] or None
    web_form.redirect_url = redirect_url
    web_form.rule_id = values.get("rule_id")
    web_form.source_id = values.get("source_id") or _web_form_source_id()
    web_form.campaign = (values.get("campaign") or "").strip()[:200] or None
    web_form.frame_origins = "\n".join(origins) or None
    web_form.active = bool(values.get("active", True))
    db.session.flush()
    return web_form


def _web_form_source_id() -> int | None:
    return db.session.execute(db.select(LeadSource.id).where(LeadSource.key == "web_form")).scalar()


# --- The fill-time token ---------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(web_form: WebForm, now: datetime | None = None) -> str:
    """A signed token naming the form and when the page was served."""
    now = now or utcnow()
    return _serializer().dumps({"f": web_form.id, "t": int(now.timestamp())})


def check_token(web_form: WebForm, token: str | None, now: datetime | None = None) -> None:
    """Raise TokenError unless `token` was issued for this form between MIN_FILL_SECONDS
    (config WEBFORM_MIN_FILL_SECONDS) and MAX_FILL_SECONDS before `now`."""
    now = now or utcnow()
    try:
        data = _serializer().loads(token or "")
    except BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("f") != web_form.id or not isinstance(data.get("t"), int):
        raise TokenError("forged", _l("This form could not be checked. Please send it again."))
    age = now.timestamp() - data["t"]
    if age > MAX_FILL_SECONDS:
        raise TokenError("expired", _l("This page was open a long time. Please send it again."))
    if age < current_app.config.get("WEBFORM_MIN_FILL_SECONDS", MIN_FILL_SECONDS):
        raise TokenError("too_fast", _l("That was very fast. Please check and send it again."))


# --- A submission ----------------------------------------------------------------------------

@dataclass
class Outcome:
    lead: Lead
    created: bool  # False: a note was added to an open lead with the same email or phone


def open_lead_matching(email: str | None, phones: list[str | None]) -> Lead | None:
    """The oldest open lead (not converted or disqualified, not in the trash) with the same
    email (without case) or phone (its last eight digits, as crm.customers.duplicates
    compares them; at least 5 digits typed), in one query."""
    conditions = []
    if email and email.strip():
        conditions.append(func.lower(Lead.email) == email.strip().lower())
    for key in phone_keys(*phones):
        conditions += [phone_matches(Lead.phone, key), phone_matches(Lead.mobile, key)]
    if not conditions:
        return None
    return db.session.execute(
        db.select(Lead).where(or_(*conditions), Lead.status.not_in(CLOSED_STATUSES),
                              Lead.deleted_at.is_(None))
        .order_by(Lead.id).limit(1)).scalar()


def submit(web_form: WebForm, values: dict, custom: dict, *, now: datetime | None = None) -> Outcome:
    """A visitor's submission of `web_form` (values of its built-in fields, `custom` of its
    custom fields, all as text). Rules:
    - the same email or phone as an open lead: a note on that lead with what was sent, and
      nothing else (no duplicate lead);
    - else a new lead: the form's source and campaign, status new, unowned until the form's
      assignment rule gives it an owner (assign_new_lead: a task for the owner), scored, in
      the audit trail; the visitor's message, if any, is its first note.
    Values are stored as typed (text); pages escape them."""
    now = now or utcnow()
    message = (values.get("message") or "").strip()
    existing = open_lead_matching(values.get("email"), [values.get("phone"), values.get("mobile")])
    if existing is not None:
        lines = [_("Sent the web form “%(form)s” again:", form=web_form.name)]
        lines += [f"{key}: {value}" for key, value in values.items()
                  if key != "message" and value]
        lines += [f"{key}: {value}" for key, value in custom.items() if value not in (None, "", [])]
        if message:
            lines += ["", message]
        db.session.add(Note(kind="note", body="\n".join(lines)[:10000], happened_at=now,
                            lead=existing))
        db.session.flush()
        lead_services.rescore(existing, now=now)
        return Outcome(existing, False)
    fields = {key: values.get(key) or None for key in lead_services.LEAD_FIELDS
              if key in values and key not in ("source_id", "owner_id")}
    fields.update(source_id=web_form.source_id, owner_id=None)
    lead = lead_services.save_lead(None, None, fields, now=now)
    lead.campaign = web_form.campaign
    stored = {key: value for key, value in custom.items() if value not in (None, "", [])}
    if stored:
        lead.custom = stored
        lead.rebuild_search_index()
    if message:
        db.session.add(Note(kind="note", body=message[:10000], happened_at=now, lead=lead))
    assign_new_lead(lead, web_form.rule, now)
    lead_services.rescore(lead, now=now)
    return Outcome(lead, True)
