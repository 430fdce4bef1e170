"""Merge two customers from the duplicates page and undo it, at desktop and phone sizes, in
English and Chinese: the list's Duplicates link, refresh, the side-by-side (stacked on a
phone) choices, the merge, and Undo bringing the other customer back with its contact."""
import re

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Customer
from tests import factories

TEXT = {
    "en": {"dup": "Duplicates", "refresh": "Search for duplicates now", "merge_link": "Merge…",
           "merge": "Merge", "merged": "Merged into", "undo": "Undo merge", "undone": "The merge was undone."},
    "zh": {"dup": "查重", "refresh": "立即查重", "merge_link": "合并…", "merge": "合并",
           "merged": "已合并到", "undo": "撤销合并", "undone": "已撤销合并。"},
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_merge_and_undo(page, app, make_user, browser_login, language):
    text = TEXT[language]
    owner = make_user("sales", name="Liu Yang", email=f"liu-{language}@example.com", language=language)
    with app.app_context():
        keep = factories.customer(owner.id, name="北京星辰科技有限公司", phone="010-6000 0001",
                                  commit=False)
        gone = factories.customer(owner.id, name="北京星辰科技", email="hi@xingchen.cn",
                                  contacts=[{"name": "李雷", "is_primary": True}], commit=False)
        db.session.commit()
        keep_id, gone_id = keep.id, gone.id
    browser_login(page, owner)
    page.goto("/customers")
    page.click("#duplicates-link")
    expect(page).to_have_url(re.compile(r"/duplicates/customer$"))
    page.click(f"button:has-text('{text['refresh']}')")
    expect(page).to_have_url(re.compile(r"/jobs/\d+"))
    page.goto("/duplicates/customer")
    pair = page.locator(".duplicate-pair", has_text="北京星辰科技有限公司")
    expect(pair).to_contain_text("100")
    pair.locator(f"a:has-text('{text['merge_link']}')").click()
    expect(page).to_have_url(re.compile(r"/duplicates/customer/merge"))
    # Keep the first, with the second's email.
    email_choice = page.locator("fieldset.merge-field", has_text="hi@xingchen.cn")
    email_choice.locator("label", has_text="hi@xingchen.cn").click()
    if page.viewport_size["width"] < 600:  # stacked: the choices sit one under the other
        boxes = [email_choice.locator("label").nth(i).bounding_box() for i in range(2)]
        assert boxes[1]["y"] > boxes[0]["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click(f"form.merge-form button:has-text('{text['merge']}')")
    expect(page.locator("body")).to_contain_text(text["merged"])
    expect(page.locator(".duplicate-pair")).to_have_count(0)
    with app.app_context():
        assert db.session.get(Customer, keep_id).email == "hi@xingchen.cn"
        assert db.session.get(Customer, gone_id) is None  # in the trash
    page.goto(f"/customers/{keep_id}")
    expect(page.locator("body")).to_contain_text("李雷")
    page.goto("/duplicates/customer")
    page.click(f"button:has-text('{text['undo']}')")
    expect(page.locator("body")).to_contain_text(text["undone"])
    page.goto(f"/customers/{gone_id}")
    expect(page.locator("body")).to_contain_text("李雷")
    with app.app_context():
        assert db.session.get(Customer, keep_id).email is None
