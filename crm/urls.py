"""The one check that a user-supplied URL (next=, back=, the Referer) stays on this site."""
from urllib.parse import urlsplit

from flask import request


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
