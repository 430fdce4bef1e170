"""Capture over HTTP: the public web-to-lead form /f/<key> (no login, its own small layout,
framable from the admin's origins only, spam-guarded) and the admins' pages for web forms
(/admin/forms) and assignment rules (/admin/assignment). Rules and writes come from
crm.webforms.services and crm.leads.assignment."""
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, make_response, redirect,
                   render_template, request, url_for)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from crm.extensions import csrf, db
from crm.fields.forms import custom_values, prepare
from crm.fields.queries import locale_id
from crm.htmx import render
from crm.leads import assignment
from crm.leads import queries as lead_queries
from crm.models import AssignmentRule, User, WebForm
from crm.permissions import can_manage_capture
from crm.rules import RuleError, apply_rule_error
from crm.webforms import queries, services
from crm.webforms.forms import RuleForm, WebFormForm, public_form_class
from crm.webforms.throttle import limiter, rate_limit

bp = Blueprint("webforms", __name__)
public_bp = Blueprint("webforms_public", __name__)

PUBLIC = "webforms/public.html"
PUBLIC_ERROR = "webforms/public_error.html"
FORMS = "webforms/forms.html"
FORM_EDIT = "webforms/form_edit.html"
RULES = "webforms/rules.html"
RULE_EDIT = "webforms/rule_edit.html"


# --- The public form -------------------------------------------------------------------------

@public_bp.url_value_preprocessor
def limit_body(endpoint, values):
    """Before anything reads the body (the app's guards parse forms): a small limit, so an
    oversized body is refused (413) before it is parsed."""
    limit = current_app.config.get("WEBFORM_MAX_BODY", 64 * 1024)
    request.max_content_length = limit
    request.max_form_memory_size = limit


def _public_error(status: int, message: str):
    """A small page of the public layout; framable like the form when the URL names one."""
    response = make_response(render_template(PUBLIC_ERROR, status=status, message=message), status)
    key = (request.view_args or {}).get("key")
    web_form = queries.public_form(key) if status != 404 and key else None
    if web_form is not None:
        response.headers["Content-Security-Policy"] = frame_policy(web_form)
    return response


@public_bp.errorhandler(400)
def public_bad_request(error):
    return _public_error(400, _("The form could not be read."))


@public_bp.errorhandler(404)
def public_not_found(error):
    return _public_error(404, _("This form does not exist or is closed."))


@public_bp.errorhandler(405)
def public_not_allowed(error):
    return _public_error(405, _("This action is not allowed here."))


@public_bp.errorhandler(413)
def public_too_large(error):
    return _public_error(413, _("What you sent is too large. Please shorten it and send again."))


@public_bp.errorhandler(429)
def public_too_many(error):
    return _public_error(429, _("Too many forms were sent from your address. Please wait a "
                                "few minutes and try again."))


def frame_policy(web_form: WebForm) -> str:
    """The app's Content-Security-Policy with frame-ancestors the form's origins (or none)
    and form-action allowing the redirect's origin."""
    policy = current_app.config["CONTENT_SECURITY_POLICY"]
    origins = " ".join(web_form.origins) or "'none'"
    policy = policy.replace("frame-ancestors 'none'", f"frame-ancestors {origins}")
    if web_form.redirect_url:
        parts = urlsplit(web_form.redirect_url)
        policy = policy.replace("form-action 'self'",
                                f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return policy


def _public_page(web_form, form, *, status=200, notice=None, sent=False):
    response = make_response(render_template(PUBLIC, web_form=web_form, form=form, status=status,
                                             notice=notice, sent=sent), status)
    response.headers["Content-Security-Policy"] = frame_policy(web_form)
    return response


@public_bp.route("/f/<key>", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit(rate_limit, methods=["POST"])
def show(key: str):
    """The form (GET), a submission (POST: a lead, or a note on the open lead with the same
    email or phone; then the thank-you text or the admin's redirect), ?sent=1 the thanks."""
    web_form = queries.public_form(key)
    if web_form is None:
        abort(404)
    with force_locale(web_form.language):
        form_class = public_form_class(web_form, queries.custom_fields())
        form = form_class()
        prepare(form)
        if request.method == "GET":
            form.token.data = services.issue_token(web_form)
            return _public_page(web_form, form, sent=request.args.get("sent") == "1")
        if form.website.data:
            # The honeypot, hidden from people, was filled: a bot. It is told all went well.
            return redirect(url_for("webforms_public.show", key=key, sent=1), 303)
        try:
            services.check_token(web_form, form.token.data)
        except services.TokenError as error:
            form.token.data = services.issue_token(web_form)
            return _public_page(web_form, form, status=400, notice=str(error))
        if not form.validate():
            return _public_page(web_form, form, status=422)
        values = {name: form[name].data for name in web_form.fields if not name.startswith("cf_")}
        try:
            services.submit(web_form, values, custom_values(form))
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
            return _public_page(web_form, form, status=422)
        db.session.commit()
    if web_form.redirect_url:
        return redirect(web_form.redirect_url, 303)
    return redirect(url_for("webforms_public.show", key=key, sent=1), 303)


# --- Admins: web forms -----------------------------------------------------------------------

def _admin_only():
    if not can_manage_capture(current_user):
        abort(403)


@bp.route("/admin/forms")
def forms():
    """The web forms, each with its public address and the code to embed it."""
    _admin_only()
    return render(FORMS, forms=queries.forms())


def _web_form_form(web_form=None, **kwargs):
    return WebFormForm(obj=web_form, field_choices=queries.field_choices(locale_id()),
                       rules=queries.rules(), sources=lead_queries.sources(), **kwargs)


@bp.route("/admin/forms/new", methods=["GET", "POST"])
def new_form():
    """A new web form (a new random key)."""
    _admin_only()
    return _form_page(None)


@bp.route("/admin/forms/<int:form_id>", methods=["GET", "POST"])
def edit_form(form_id: int):
    """Change a web form."""
    _admin_only()
    return _form_page(db.get_or_404(WebForm, form_id))


def _form_page(web_form):
    """A web form's fields, language, thank-you text or redirect, rule, source, campaign and
    the origins that may frame it."""
    form = _web_form_form(web_form)
    if request.method == "GET":
        if web_form is None:
            form.fields.data = ["name", "company", "phone", "email", "message"]
            form.language.data = "zh_CN" if locale_id().startswith("zh") else "en"
        else:
            form.frame_origins.data = "\n".join(web_form.origins)
            # A custom field deleted since is no longer offered.
            offered = {value for value, _label in form.fields.choices}
            form.fields.data = [name for name in web_form.fields if name in offered]
    if form.validate_on_submit():
        values = {name: form[name].data for name in (
            "name", "title", "language", "fields", "thank_you", "redirect_url", "rule_id",
            "source_id", "campaign", "frame_origins", "active")}
        custom_inputs = {f.input_name for f in queries.custom_fields()}
        try:
            saved = services.save_form(web_form, values, custom_inputs=custom_inputs)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Form %(name)s was saved.", name=saved.name), "success")
            return redirect(url_for("webforms.forms"), 303)
    return render(FORM_EDIT, status=422 if form.is_submitted() else 200, form=form,
                  web_form=web_form)


# --- Admins: assignment rules ----------------------------------------------------------------

@bp.route("/admin/assignment")
def rules():
    """The assignment rules web forms give their new leads to."""
    _admin_only()
    return render(RULES, rules=queries.rules(), mode_names=queries.MODE_NAMES)


@bp.route("/admin/assignment/new", methods=["GET", "POST"])
def new_rule():
    _admin_only()
    return _rule_page(None)


@bp.route("/admin/assignment/<int:rule_id>", methods=["GET", "POST"])
def edit_rule(rule_id: int):
    _admin_only()
    return _rule_page(db.get_or_404(AssignmentRule, rule_id))


def _rule_page(rule):
    """Create or change an assignment rule: a fixed owner, round-robin or the pool."""
    users = queries.users()
    form = RuleForm(obj=rule, users=users)
    if request.method == "GET" and rule is not None:
        form.member_ids.data = [u.id for u in rule.members]
    if form.validate_on_submit():
        by_id = {u.id: u for u in users}
        owner = db.session.get(User, form.owner_id.data) if form.owner_id.data else None
        members = [by_id[i] for i in form.member_ids.data or [] if i in by_id]
        try:
            assignment.save_rule(rule, name=form.name.data, mode=form.mode.data, owner=owner,
                                 members=members, contact_hours=form.contact_hours.data)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Rule %(name)s was saved.", name=form.name.data.strip()), "success")
            return redirect(url_for("webforms.rules"), 303)
    return render(RULE_EDIT, status=422 if form.is_submitted() else 200, form=form, rule=rule)
