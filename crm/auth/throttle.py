"""The login throttle: wrong passwords are counted per account and address together, with a
looser ceiling per address.

One person mistyping their password locks only that account from that address, for a while;
the rest of an office behind the same NAT logs in as usual, until the address as a whole
fails LOGIN_ADDRESS_LIMIT times (someone trying many accounts). Only failures count; a
success clears its account's count at that address. The counters are moving windows kept by
the `limits` library: in Redis when REDIS_URL is set (every worker and server counts
together), else in the memory of each worker process (each counts on its own, and a restart
forgets).
"""
import logging
import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from crm.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lock:
    """Why a login is refused before its password is checked, and for how long."""
    scope: str  # "account": this account from this address; "address": every account
    seconds: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.seconds / 60))


class LoginThrottle:
    def __init__(self, app):
        self.enabled = app.config.get("LOGIN_THROTTLE_ENABLED", True)
        self.namespace = app.config.get("LOGIN_THROTTLE_NAMESPACE", "crm")
        self.account_limit = parse(app.config["LOGIN_ACCOUNT_LIMIT"])
        self.address_limit = parse(app.config["LOGIN_ADDRESS_LIMIT"])
        self.limiter = MovingWindowRateLimiter(storage_from_string(
            app.config["LOGIN_THROTTLE_STORAGE_URI"]))

    def _keys(self, email: str, address: str):
        email = User.normalise_email(email)
        return ((self.account_limit, (self.namespace, "login-account", address, email)),
                (self.address_limit, (self.namespace, "login-address", address)))

    def lock(self, email: str, address: str) -> Lock | None:
        """The lock on this account from this address (or on the address), if any."""
        if not self.enabled:
            return None
        try:
            for (limit, identifiers), scope in zip(self._keys(email, address),
                                                   ("account", "address")):
                if not self.limiter.test(limit, *identifiers):
                    reset_at = self.limiter.get_window_stats(limit, *identifiers).reset_time
                    return Lock(scope, max(1, math.ceil(reset_at - time.time())))
        except Exception:  # the counters' store is down: log in without them, and say so
            log.exception("login throttle: counters unavailable")
        return None

    def failed(self, email: str, address: str) -> None:
        """Count a wrong password (or an unknown email: the same, so that nobody learns
        which emails have an account)."""
        if not self.enabled:
            return
        try:
            for limit, identifiers in self._keys(email, address):
                self.limiter.hit(limit, *identifiers)
        except Exception:
            log.exception("login throttle: counters unavailable")

    def succeeded(self, email: str, address: str) -> None:
        """The right password: this account's failures at this address are forgotten."""
        if not self.enabled:
            return
        try:
            limit, identifiers = self._keys(email, address)[0]
            self.limiter.clear(limit, *identifiers)
        except Exception:
            log.exception("login throttle: counters unavailable")


def init_throttle(app) -> None:
    app.extensions["crm_login_throttle"] = LoginThrottle(app)


def login_throttle() -> LoginThrottle:
    return current_app.extensions["crm_login_throttle"]
