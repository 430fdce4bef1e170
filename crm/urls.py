"""URLs: the one check that a user-supplied URL (next=, back=, the Referer) stays on this
site, and links to many records built at once."""
from urllib.parse import urlsplit

from flask import request, url_for


def local_path(url: str | None) -> str | None:
    """`url` as a path (with its query) on this site, or None: never an open redirect.

    Absolute URLs are accepted only for this host; a path starting with // or holding a
    backslash is refused, since browsers read //host and /\\host as another site.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or (parts.netloc and parts.netloc != request.host):
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or url.startswith("//") or "\\" in url:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


class IdUrl:
    """url_for(endpoint, <id_arg>=id) for many ids: built once with a stand-in id, then each
    id goes between the two halves (a list of hundreds of rows links every one of them, and
    url_for costs more than the row's other work). A Jinja global: id_url(endpoint, id_arg)."""

    _STAND_IN = "2147483647"

    def __init__(self, endpoint: str, id_arg: str, **values):
        built = url_for(endpoint, **{id_arg: int(self._STAND_IN)}, **values)
        self.before, self.after = built.split(self._STAND_IN, 1)

    def __call__(self, record_id: int) -> str:
        return f"{self.before}{record_id}{self.after}"
