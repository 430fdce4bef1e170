"""The one place that reads HX-* request headers and builds HX-* responses."""
from flask import make_response, redirect, render_template, request
from htmx_flask import make_response as htmx_response
from jinja2_fragments.flask import render_block, render_blocks


def is_htmx() -> bool:
    """An htmx request that is not a boosted navigation (those want whole pages)."""
    return bool(request.htmx) and not request.htmx.boosted


def targets(*ids: str) -> bool:
    """True when an htmx request aims at one of the element ids (HX-Target)."""
    return is_htmx() and (request.htmx.target or "") in ids


def render(template: str, block: str | None = None, *, oob: list[str] | None = None,
           status: int = 200, **context):
    """The whole page, or for an htmx request just `block` (plus out-of-band blocks)."""
    if block and is_htmx():
        if oob:
            body = render_blocks(template, [block, *oob], **context)
        else:
            body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def fragment(template: str, *blocks: str, status: int = 200, **context):
    """Only the named blocks of a page, whoever asks."""
    if len(blocks) == 1:
        body = render_block(template, blocks[0], **context)
    else:
        body = render_blocks(template, list(blocks), **context)
    return make_response(body, status)


def redirect_to(url: str):
    """Send the browser elsewhere: HX-Redirect for htmx, 303 for everyone else."""
    if request.htmx:
        return htmx_response("", redirect=url)
    return redirect(url, 303)


def trigger(response, events: dict | str):
    """Ask htmx to fire client-side events after this response."""
    import json

    response.headers["HX-Trigger"] = events if isinstance(events, str) else json.dumps(events)
    return response


def add_vary(response):
    """Caches must keep fragments and pages apart."""
    response.vary.add("HX-Request")
    return response
