"""The password rule, in one place: the setup page, the account page, the admin's user form
and the `create-user` command all ask `password_problem`."""
import gzip
import string
from functools import lru_cache
from pathlib import Path

from flask_babel import gettext as _

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt.gz")
# What people put around a weak password to get it past a length rule: 'Password1234!'.
TRIMMINGS = string.digits + string.punctuation + string.whitespace


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords, lower-cased; read once per process."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines
                         if line.strip() and not line.startswith("#"))


def password_problem(password: str | None, *, email: str | None = None,
                     name: str | None = None) -> str | None:
    """Why a password is refused, translated; None when it is fine.

    A password has 12 to 128 characters; it is not one character repeated ("aaaaaaaaaaaa"),
    not the user's email, the part of it before the @, or the user's name (spaces and case
    aside), and not in the list of common passwords shipped with the project. Nor is it one of
    those with only digits or signs before or after it ('welcome12345', 'Password123!',
    'wang.li-19880512'). No composition rules (a digit, a capital): length and not being guessable
    matter, those do not."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("The password can have at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    folded = password.strip().casefold()
    if len(set(folded)) == 1:
        return _("The password must not be one character repeated.")
    email = (email or "").strip().casefold()
    personal = {email, email.partition("@")[0], (name or "").strip().casefold(),
                "".join((name or "").split()).casefold()} - {""}
    core = folded.strip(TRIMMINGS)  # 'Password123!' -> 'password'
    if personal & {folded, "".join(folded.split()), core}:
        return _("The password must not be your email or your name.")
    if folded in common_passwords():
        return _("This is one of the most common passwords, the first ones anybody tries: "
                 "choose another.")
    if core in common_passwords():
        return _("This is a common password with only digits or signs added: choose another.")
    return None
