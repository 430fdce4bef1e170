"""From a customer's page: the "likely duplicate" hint leads to the customers' merge, and the
contacts panel's "Merge contacts…" to a chooser of its contacts, the side-by-side view, the
merge and its Undo; at desktop and phone sizes, in English and Chinese."""
import re

import pytest
from playwright.sync_api import expect

from crm.duplicates.refresh import refresh
from crm.extensions import db
from crm.models import Contact
from tests import factories

TEXT = {
    "en": {"hint": "Likely duplicate", "compare": "Compare and merge", "contacts": "Merge contacts…",
           "merge": "Merge", "merged": "Merged into", "undo": "Undo merge",
           "undone": "The merge was undone.", "choose": "Choose two or more contacts to merge."},
    "zh": {"hint": "可能重复", "compare": "对比并合并", "contacts": "合并联系人…", "merge": "合并",
           "merged": "已合并到", "undo": "撤销合并", "undone": "已撤销合并。",
           "choose": "请选择两个或更多要合并的联系人。"},
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_hint_and_contact_merge_from_the_customer_page(page, app, make_user, browser_login,
                                                       language):
    text = TEXT[language]
    owner = make_user("sales", name="Liu Yang", email=f"liu-c-{language}@example.com",
                      language=language)
    with app.app_context():
        keep = factories.customer(owner.id, name="北京星辰科技有限公司", commit=False, contacts=[
            {"name": "王芳", "phone": "138 0013 8000", "is_primary": True},
            {"name": "王 芳", "email": "wf@xingchen.cn"}, {"name": "李雷"}])
        other = factories.customer(owner.id, name="北京星辰科技", commit=False)
        db.session.commit()
        refresh("customer")
        db.session.commit()
        keep_id, other_id = keep.id, other.id
        ids = {c.name: c.id for c in db.session.query(Contact).filter_by(customer_id=keep_id)}
    browser_login(page, owner)
    page.goto(f"/customers/{keep_id}")
    hint = page.locator(".duplicate-hint")
    expect(hint).to_contain_text(text["hint"])
    expect(hint).to_contain_text("北京星辰科技")
    if page.viewport_size["width"] < 600:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    hint.locator(f"a:has-text('{text['compare']}')").click()
    expect(page).to_have_url(re.compile(rf"/duplicates/customer/merge\?ids={keep_id}&ids={other_id}"))
    page.goto(f"/customers/{keep_id}")
    if page.viewport_size["width"] < 600:  # a phone: the record page's sections start closed
        page.click("details.phone-section:has(#contacts) > summary")
    page.click("#merge-contacts-link")
    expect(page).to_have_url(re.compile(rf"/duplicates/contact\?customer={keep_id}"))
    chooser = page.locator("#contact-chooser")
    chooser.locator("label", has_text="李雷").locator("input").check()
    chooser.locator("button").click()  # one only: told to choose two
    expect(page.locator("body")).to_contain_text(text["choose"])
    chooser = page.locator("#contact-chooser")
    chooser.locator("label", has_text="138 0013 8000").locator("input").check()
    chooser.locator("label", has_text="wf@xingchen.cn").locator("input").check()
    if page.viewport_size["width"] < 600:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    chooser.locator("button").click()
    expect(page).to_have_url(re.compile(r"/duplicates/contact/merge"))
    email_choice = page.locator("fieldset.merge-field", has_text="wf@xingchen.cn")
    email_choice.locator("label", has_text="wf@xingchen.cn").click()
    page.click(f"form.merge-form button:has-text('{text['merge']}')")
    expect(page.locator("body")).to_contain_text(text["merged"])
    with app.app_context():
        assert db.session.get(Contact, ids["王芳"]).email == "wf@xingchen.cn"
        assert db.session.get(Contact, ids["王 芳"]) is None  # in the trash
    page.goto(f"/customers/{keep_id}")
    expect(page.locator("#contacts li.contact")).to_have_count(2)
    page.goto("/duplicates/contact")
    page.click(f"button:has-text('{text['undo']}')")
    expect(page.locator("body")).to_contain_text(text["undone"])
    page.goto(f"/customers/{keep_id}")
    expect(page.locator("#contacts li.contact")).to_have_count(3)
