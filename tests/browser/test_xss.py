"""XSS in Chromium: every text a user can type and see again is stored with a payload straight
in the database, then every page, fragment and picker that shows it is opened. Nothing may run
(window.__xss stays undefined, no dialog), no markup may be injected (no inline handler, no
inline script, no javascript: link), the payload reads as plain text, and {{7*7}} stays itself."""
from datetime import timedelta
from decimal import Decimal

import pytest

from crm.extensions import db
from crm.models import (Competitor, Contact, Customer, LostReason, Note, Opportunity, Pipeline,
                        Segment, Stage, Tag, TagGroup, Task, User, utcnow)
from crm.search import search_keys
from tests.browser.conftest import htmx_settled

PAYLOADS = {
    "script": "<script>window.__xss=1</script>",
    "img": '"><img src=x onerror="window.__xss=1">',
    "svg": "'><svg onload=window.__xss=1>",
    "template": "{{7*7}}",
    "js-url": "javascript:window.__xss=1",
}

# What must not be in the DOM: an element that carries an inline handler (the app has none;
# CSP would block it, but markup injection is the bug), an inline <script> holding the payload,
# an <img src=x>/<svg onload>, an href/src/action/formaction starting with javascript:.
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = (attr.value || '').trim().toLowerCase();
      if (name.startsWith('on') || name.startsWith('hx-on') || name.startsWith('data-hx-on')) {
        found.push(`${el.tagName} ${name}=${attr.value}`);
      }
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'hx-get', 'hx-post'].includes(name)
          && value.replace(/[\\s\\u0000-\\u001f]/g, '').startsWith('javascript:')) {
        found.push(`${el.tagName} ${name}=${attr.value}`);
      }
    }
    if (el.tagName === 'SCRIPT' && (el.textContent || '').includes('__xss')) found.push('inline script');
    if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') found.push('img src=x');
    if (el.tagName.toLowerCase() === 'svg' && el.hasAttribute('onload')) found.push('svg onload');
  }
  return found;
}"""


def seed(app, admin_id: int, payload: str) -> dict:
    """Every typed-in text field set to the payload; returns the ids and a search word."""
    with app.app_context():
        admin = db.session.get(User, admin_id)
        admin.name = f"Ada {payload}"
        word = "zqxfind"  # the payload alone may hold no searchable word
        pipeline = Pipeline(name=f"Pipe {payload}", position=5)
        stages = [Stage(name=f"Stage {payload}", position=0, probability=10, kind="open",
                        color="#123456", playbook=f"Call {payload} | 2\nMail {payload}"),
                  Stage(name=f"Won {payload}", position=1, probability=100, kind="won", color="#16a34a"),
                  Stage(name=f"Lost {payload}", position=2, probability=0, kind="lost", color="#dc2626")]
        pipeline.stages.extend(stages)
        reason = LostReason(name=f"Reason {payload}", position=20)
        group = TagGroup(name=f"Group {payload}", multiple=True, position=0)
        tag = Tag(name=f"Tag {payload}", color="#ff0000", group=group)
        Tag(name=f"Other {payload}", color="#00ff00", group=group)
        customer = Customer(
            name=f"{word} {payload}", industry=payload, region=payload, city=payload,
            source=payload, phone=payload, email=payload,
            website=payload if payload.startswith("javascript:") else f"javascript:{payload}",
            address=payload, description=f"{payload}\nline two {payload}",
            owner_id=admin.id, created_by_id=admin.id)
        customer.tags.append(tag)
        contact = Contact(name=f"{word} {payload}", title=payload, phone=payload, email=payload,
                          customer=customer, is_primary=True)
        customer.contacts.append(contact)
        customer.rebuild_search_index()
        doomed = Customer(name=f"Trash {payload}", owner_id=admin.id, created_by_id=admin.id,
                          search_index=search_keys("Trash"))
        doomed.contacts.append(Contact(name=f"Gone {payload}"))
        db.session.add_all([pipeline, reason, group, customer, doomed])
        db.session.flush()
        opportunity = Opportunity(
            title=f"{word} {payload}", customer_id=customer.id, contact_id=contact.id,
            pipeline_id=pipeline.id, stage_id=stages[0].id, status="open", amount=Decimal("1234.00"),
            owner_id=admin.id, created_by_id=admin.id, source=payload, needs=payload,
            description=payload, expected_close=(utcnow() + timedelta(days=10)).date())
        lost = Opportunity(
            title=f"Lost deal {payload}", customer_id=customer.id, pipeline_id=pipeline.id,
            stage_id=stages[2].id, status="lost", lost_reason_id=None, lost_note=payload,
            amount=Decimal("10"), owner_id=admin.id, created_by_id=admin.id, closed_at=utcnow())
        db.session.add_all([opportunity, lost])
        db.session.flush()
        lost.lost_reason_id = reason.id
        opportunity.related.append(lost)
        db.session.add_all([
            Competitor(opportunity_id=opportunity.id, name=f"Rival {payload}", notes=payload),
            Note(body=f"{payload}\nsecond line", customer_id=customer.id, author_id=admin.id),
            Note(body=f"Deal note {payload}", customer_id=customer.id, opportunity_id=opportunity.id,
                 author_id=admin.id),
            Task(title=f"Task {payload}", assignee_id=admin.id, customer_id=customer.id,
                 opportunity_id=opportunity.id, due_at=utcnow() - timedelta(hours=2),
                 created_by_id=admin.id),
            Task(title=f"Later {payload}", assignee_id=admin.id, customer_id=customer.id,
                 due_at=utcnow() + timedelta(days=2), created_by_id=admin.id),
            Segment(name=f"Segment {payload}", query=f"tag={tag.id}", user_id=admin.id),
        ])
        db.session.flush()
        note_id = db.session.execute(db.select(Note.id).where(Note.customer_id == customer.id)
                                     .order_by(Note.id)).scalars().first()
        task_id = db.session.execute(db.select(Task.id).order_by(Task.id)).scalars().first()
        ids = {"customer": customer.id, "contact": contact.id, "opportunity": opportunity.id,
               "lost": lost.id, "pipeline": pipeline.id, "stage": stages[0].id, "tag": tag.id,
               "group": group.id, "reason": reason.id, "note": note_id, "task": task_id,
               "user": admin.id, "word": word, "doomed": doomed.id}
        db.session.commit()
        return ids


def pages(ids: dict) -> list[str]:
    word = ids["word"]
    return [
        "/customers", f"/customers?q={word}", f"/customers?tag={ids['tag']}",
        f"/customers/{ids['customer']}", f"/customers/{ids['customer']}/edit",
        f"/customers/{ids['customer']}/contacts/{ids['contact']}/edit",
        f"/customers/duplicates?name={word}",
        "/opportunities", f"/opportunities?q={word}", "/opportunities?status=lost",
        f"/opportunities/{ids['opportunity']}", f"/opportunities/{ids['lost']}",
        f"/opportunities/{ids['opportunity']}/edit", f"/opportunities/new?customer_id={ids['customer']}",
        f"/opportunities/customer-search?customer_q={word}",
        f"/opportunities/contact-options?customer_id={ids['customer']}",
        f"/opportunities/{ids['lost']}/related-search?related_q={word}",
        f"/pipeline?pipeline={ids['pipeline']}", f"/pipeline/stages/{ids['stage']}",
        "/tasks", f"/tasks/{ids['task']}/edit", f"/tasks/related?related_q={word}",
        f"/tasks/new?customer_id={ids['customer']}",
        f"/notes/{ids['note']}", f"/notes/{ids['note']}/edit",
        "/tags", f"/tags/{ids['tag']}/edit", f"/tags/{ids['tag']}/merge", f"/tags/{ids['tag']}/delete",
        f"/tags/groups/{ids['group']}/edit",
        "/admin/pipelines", f"/admin/pipelines/{ids['pipeline']}",
        f"/admin/pipelines/stages/{ids['stage']}/edit", f"/admin/pipelines/stages/{ids['stage']}/remove",
        "/admin/pipelines/lost-reasons", f"/admin/pipelines/lost-reasons/{ids['reason']}/edit",
        "/admin/users", f"/admin/users/{ids['user']}/edit", "/account", "/",
        "/admin/audit", f"/admin/audit?q={word}", f"/audit/customers/{ids['customer']}",
        f"/audit/opportunities/{ids['opportunity']}", "/admin/settings",
    ]


def assert_inert(page, payload: str, where: str, *, must_show: bool = True):
    assert page.evaluate("typeof window.__xss") == "undefined", f"script ran on {where}"
    injected = page.evaluate(INJECTED)
    assert not injected, f"markup injected on {where}: {injected[:5]}"
    text = page.evaluate("document.body ? document.body.innerText + ' ' + "
                         "Array.from(document.querySelectorAll('input, textarea'))"
                         ".map(e => e.value).join(' ') : ''")
    if must_show:
        # For {{7*7}} this also proves it was not evaluated to 49 by any template engine.
        assert payload in text, f"the payload is not shown as text on {where}"
    if "{{" in payload:
        html = page.content()
        assert "Ada 49" not in text and "zqxfind 49" not in text and "Tag 49" not in html, where


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_payloads_render_inert_everywhere(app, page, live_server, admin, browser_login, kind):
    if page.viewport_size["width"] < 900:
        pytest.skip("one size is enough: escaping does not depend on the layout")
    payload = PAYLOADS[kind]
    ids = seed(app, admin.id, payload)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    browser_login(page, admin)

    for path in pages(ids):
        response = page.goto(path)
        assert response.status < 500, (path, response.status)
        htmx_settled(page)
        # Edit forms and pickers show the value in an input or an option; lists show it as text.
        assert_inert(page, payload, path, must_show=not path.startswith(("/admin/users/", "/tasks/new")))

    # The website is never a javascript: link; only http(s) addresses are clickable.
    page.goto(f"/customers/{ids['customer']}")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript")], hrefs

    # htmx swaps: the customer search, the duplicate warning, the opportunity's customer picker.
    page.goto("/customers")
    with page.expect_response(lambda r: "/customers?" in r.url and r.request.headers.get("hx-request")):
        page.fill("input[name=q]", ids["word"])
    htmx_settled(page)
    assert_inert(page, payload, "customer search (htmx)")

    page.goto("/customers/new")
    with page.expect_response(lambda r: "/customers/duplicates" in r.url):
        page.fill("#name", ids["word"])
        page.locator("#name").dispatch_event("change")
    htmx_settled(page)
    assert_inert(page, payload, "duplicate warning (htmx)")
    # Saved anyway through the form: the duplicate warning of the full page, then the flash.
    page.fill("#name", f"{ids['word']} {payload}")
    with page.expect_navigation():  # a plain form: the answer is a new page
        page.click("form.customer-form button[type=submit]")
    htmx_settled(page)
    assert_inert(page, payload, "duplicate warning (form post)")

    page.goto("/opportunities/new")
    with page.expect_response(lambda r: "/opportunities/customer-search" in r.url):
        page.fill("input[name=customer_q]", ids["word"])
    htmx_settled(page)
    assert_inert(page, payload, "customer picker (htmx)")

    # Flash messages after saving through the forms carry the names.
    contact_edit = f"/customers/{ids['customer']}/contacts/{ids['contact']}/edit"
    for path, form in ((f"/customers/{ids['customer']}/edit", "form.customer-form"),
                       (f"/opportunities/{ids['opportunity']}/edit", "#opportunity-form"),
                       (f"/tags/{ids['tag']}/edit", "main form[method=post]"),
                       (contact_edit, f'form[action="{contact_edit}"]')):
        page.goto(path)
        with page.expect_navigation():
            # As without JavaScript (the contact page's htmx target lives on the customer page).
            page.locator(form).first.evaluate(
                "form => { form.removeAttribute('hx-post'); htmx.process(form); form.submit(); }")
        htmx_settled(page)
        assert_inert(page, payload, f"after saving {path}", must_show=False)
    page.goto(f"/customers/{ids['customer']}/edit")
    page.fill("#name", f"Saved {payload}")
    page.fill("#phone", "010 1234 5678")  # the payload is no phone number or email: 422 above
    page.fill("#email", "ok@example.com")
    page.locator("main form[method=post]").first.evaluate("form => form.requestSubmit()")
    page.wait_for_url(f"**/customers/{ids['customer']}")
    assert_inert(page, f"Saved {payload}", "the flash after saving a customer")
    assert page.locator(".flash, [role=status], [role=alert]").filter(has_text=f"Saved {payload}").count() >= 1

    # An edit conflict shows both values side by side: theirs and mine, both inert.
    page.goto(f"/customers/{ids['customer']}/edit")
    with app.app_context():
        customer = db.session.get(Customer, ids["customer"])
        customer.description = f"Theirs {payload}"
        customer.version += 1
        db.session.commit()
    page.fill("#description", f"Mine {payload}")
    with page.expect_navigation(), page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("form.customer-form").evaluate("form => form.requestSubmit()")
    htmx_settled(page)
    assert answer.value.status == 409
    assert_inert(page, f"Theirs {payload}", "the edit conflict")
    assert_inert(page, f"Mine {payload}", "the edit conflict")

    # Deleted: the Undo notice and the trash show the names.
    page.goto(f"/customers/{ids['doomed']}")
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    response = page.request.post(f"/customers/{ids['doomed']}/delete", form={"csrf_token": token},
                                 max_redirects=0)
    assert response.status == 303
    page.goto(response.headers["location"])
    assert_inert(page, payload, "the Undo notice after a deletion")
    page.goto("/trash")
    assert_inert(page, payload, "the trash")

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not dialogs, dialogs


def test_stored_javascript_website_is_not_a_link(app, page, admin, browser_login):
    """Even typed in mixed case or with spaces, a javascript: website never becomes an href."""
    if page.viewport_size["width"] < 900:
        pytest.skip("one size is enough")
    with app.app_context():
        ids = []
        for website in ("javascript:window.__xss=1", " JavaScript:window.__xss=1", "java\tscript:window.__xss=1",
                        "data:text/html,<script>window.__xss=1</script>", "https://ok.example/path"):
            customer = Customer(name=f"Site {len(ids)}", website=website, owner_id=admin.id,
                                search_index=search_keys(f"Site {len(ids)}"))
            db.session.add(customer)
            db.session.flush()
            ids.append(customer.id)
        db.session.commit()
    browser_login(page, admin)
    for number, customer_id in enumerate(ids):
        page.goto(f"/customers/{customer_id}")
        hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.href)")
        assert not [h for h in hrefs if not h.startswith(("http://", "https://"))], hrefs
        if number == 4:
            assert "https://ok.example/path" in hrefs
        else:
            assert not [h for h in hrefs if "__xss" in h]


def test_customer_form_refuses_script_urls(client, admin, login):
    """The form turns a typed javascript: website into nothing clickable."""
    login(admin)
    for website in ("javascript:alert(1)", "JAVASCRIPT://%0aalert(1)", "data:text/html,x",
                    "vbscript:msgbox(1)"):
        response = client.post("/customers/new", data={"name": f"W {website}", "kind": "company",
                                                       "website": website, "confirm_duplicate": "1"})
        assert response.status_code in (303, 422), response.status_code
        if response.status_code == 303:
            page = client.get(response.headers["Location"]).get_data(as_text=True)
            assert 'href="javascript' not in page.lower() and 'href="data:' not in page.lower() \
                and 'href="vbscript' not in page.lower()
