"""Login sessions: one row per signed-in browser, so that logging out ends it on the server.

The session and remember cookies stay signed cookies (the app servers keep no state); what
they carry is `<user id>:<token>` (User.get_id), and the user loader accepts them only while
the token's row exists and has not expired. That check is part of the one statement the
loader runs anyway (crm._user_statement): no page gains a query.

Ending a session deletes its row: every copy of its cookies is refused from then on.
None of these functions commits; the route does.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request
from flask_login import current_user, login_user

from crm.extensions import db
from crm.models import LoginSession, User, utcnow


def hash_token(token: str) -> str:
    """What is stored of a token: a leaked table does not let anyone sign in."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_cookie_id(value: str) -> tuple[int, str] | None:
    """`<user id>:<token>` from a session or remember cookie; None for anything else (a
    cookie from before login sessions existed included, so it is refused)."""
    user_id, sep, token = (value or "").partition(":")
    if not sep or not token or len(token) > 128 or not user_id.isascii() \
            or not user_id.isdigit() or len(user_id) > 10:
        return None
    return int(user_id), token


def lifetime(remember: bool) -> timedelta:
    """How long a session lasts on the server: the remember cookie's duration with "keep me
    logged in", LOGIN_SESSION_LIFETIME (a working week) without."""
    config = current_app.config
    return config["REMEMBER_COOKIE_DURATION"] if remember else config["LOGIN_SESSION_LIFETIME"]


def start(user: User, *, remember: bool = False) -> LoginSession:
    """Open a login session for this browser and make `user` carry its token, so that the
    login_user() that follows writes it into the cookies. The user's expired rows go."""
    now = utcnow()
    db.session.execute(db.delete(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    row = LoginSession(user_id=user.id, token_hash=hash_token(token), remember=bool(remember),
                       created_at=now, expires_at=now + lifetime(bool(remember)),
                       user_agent=(request.user_agent.string or "")[:255] if request else "",
                       address=(request.remote_addr or "")[:64] if request else "")
    db.session.add(row)
    db.session.flush()
    user.login_token, user.login_session_id = token, row.id
    return row


def end_current(user: User) -> None:
    """Log this browser out: its session row goes."""
    if getattr(user, "login_session_id", None):
        db.session.execute(db.delete(LoginSession).where(LoginSession.id == user.login_session_id))


def end_one(user: User, session_id: int) -> bool:
    """End one of the user's own sessions (another device); False if there is none."""
    result = db.session.execute(db.delete(LoginSession).where(
        LoginSession.id == session_id, LoginSession.user_id == user.id))
    return result.rowcount > 0


def end_all(user_id: int) -> int:
    """End every session of a user, on every device (log out everywhere, a password change,
    a deactivation); the number ended."""
    result = db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == user_id))
    return result.rowcount


def password_changed(user: User) -> None:
    """A new password ends every session of `user` (call it after set_password, wherever the
    password was changed). When `user` is the one signed in here, this browser gets a new
    session (with "keep me logged in" if it had it) and is logged in on it, so that only this
    browser stays in."""
    if not (current_user.is_authenticated and current_user.id == user.id):
        end_all(user.id)
        return
    remember = bool(db.session.execute(db.select(LoginSession.remember).where(
        LoginSession.id == current_user.login_session_id)).scalar())
    end_all(user.id)
    start(user, remember=remember)
    login_user(user, remember=remember)


def of_user(user: User) -> list[LoginSession]:
    """The user's open sessions, newest first (the account page lists them)."""
    return list(db.session.execute(
        db.select(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.expires_at > utcnow())
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())).scalars())


_BROWSERS = (("MicroMessenger", "WeChat"), ("DingTalk", "DingTalk"), ("Edg", "Edge"),
             ("OPR", "Opera"), ("Firefox", "Firefox"), ("Chromium", "Chromium"),
             ("Chrome", "Chrome"), ("Safari", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def device_label(user_agent: str) -> str:
    """A short name for the browser a session came from: "Chrome · Android"; "" if unknown."""
    agent = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in agent), "")
    system = next((name for token, name in _SYSTEMS if token in agent), "")
    return " · ".join(part for part in (browser, system) if part)
