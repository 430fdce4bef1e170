"""The htmx protocol, in one place: what an htmx request asks for (the HX-* request headers),
page or fragment, out-of-band pieces, and the HX-* response headers.

Routes never read `request.htmx` or set an HX-* header themselves; they say what they want:

    block = block_for(PAGE_BLOCKS)            # this block for this HX-Target, or None
    return render(SHOW, block, **context)     # the whole page, or just that block

    response = fragment(SHOW, "details", **context)
    add_oob(response, oob_block("tasks/panel.html", "task_panel", panel_oob=True, **context))
    return retarget(response, "#note-form")   # HX-Retarget + HX-Reswap

Out-of-band pieces are blocks of a template that mark themselves `hx-swap-oob` when rendered
with `oob=True` (see `oob_block`): HTML is never patched as a string.
"""
import json

from flask import make_response, redirect, render_template, request
from htmx_flask import make_response as htmx_response
from jinja2_fragments.flask import render_block, render_blocks


# --- What the request asks for ---------------------------------------------------------------

def is_htmx() -> bool:
    """An htmx request that is not a boosted navigation (those want whole pages)."""
    return bool(request.htmx) and not request.htmx.boosted


def is_htmx_request() -> bool:
    """Any htmx request, boosted or not (it cannot follow a plain redirect into a swap)."""
    return bool(request.htmx)


def target() -> str | None:
    """The id of the element an htmx request aims at (HX-Target), or None."""
    return (request.htmx.target or None) if is_htmx() else None


def targets(*ids: str) -> bool:
    """True when an htmx request aims at one of the element ids (HX-Target)."""
    return is_htmx() and (request.htmx.target or "") in ids


def block_for(blocks: dict[str, str]) -> str | None:
    """The block answering this request: `blocks` maps HX-Target ids to block names of a
    page; a full page (None) for anything else."""
    return blocks.get(target() or "")


def current_url() -> str | None:
    """The URL of the page an htmx request came from (HX-Current-URL), or None."""
    return request.htmx.current_url if request.htmx else None


# --- Page or fragment -----------------------------------------------------------------------

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


def oob_block(template: str, block: str, **context) -> str:
    """A block rendered as an out-of-band piece, to pass to add_oob: the block marks its root
    element hx-swap-oob when the flag it reads is in `context` (`oob=True` by default;
    `panel_oob=True` for the task panel, which shares its page's context)."""
    if not any(key == "oob" or key.endswith("_oob") for key in context):
        context["oob"] = True
    return render_block(template, block, **context)


def add_oob(response, *pieces: str):
    """Append out-of-band pieces (rendered blocks) to an htmx response."""
    if pieces:
        response.set_data(response.get_data(as_text=True) + "".join(pieces))
    return response


# --- Response headers -----------------------------------------------------------------------

def redirect_to(url: str):
    """Send the browser elsewhere: HX-Redirect for htmx, 303 for everyone else."""
    if request.htmx:
        return htmx_response("", redirect=url)
    return redirect(url, 303)


def retarget(response, selector: str, swap: str = "outerHTML"):
    """Swap this response into `selector` instead of the request's target (a refused form
    answering for the whole form, say)."""
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response


def reswap(response, swap: str):
    """Change how htmx swaps this response ("none": leave the page as it is)."""
    response.headers["HX-Reswap"] = swap
    return response


def push_url(response, url: str):
    """Put `url` in the address bar and the history (a filtered list that can be shared)."""
    response.headers["HX-Push-Url"] = url
    return response


def trigger(response, events: dict | str):
    """Ask htmx to fire client-side events after this response."""
    response.headers["HX-Trigger"] = events if isinstance(events, str) else json.dumps(events)
    return response


def add_vary(response):
    """Caches must keep fragments and pages apart."""
    response.vary.add("HX-Request")
    return response
