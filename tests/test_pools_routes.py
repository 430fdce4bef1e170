"""The public pool over HTTP: /pool and its tabs, a record's pool page, claim (409 naming the
owner when someone was first), release, transfer one and many, lock/unlock from the panel,
/admin/pools with bad input refused beside the field and nothing changed; the visibility
matrix of the new routes by role."""
import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Customer, CustomerLevel, Pool
from crm.pools import services
from tests import factories
from tests.conftest import hx


@pytest.fixture
def world(app, make_user):
    ada = make_user("sales", name="Ada")
    bob = make_user("sales", name="Bob")
    mia = make_user("manager", name="Mia")
    root = make_user("admin", name="Root")
    with app.app_context():
        services.ensure_defaults()
        pool = db.session.execute(select(Pool).where(Pool.kind == "customer")).scalar_one()
        free = factories.customer(None, name="星辰科技", phone="13800138000")
        owned = factories.customer(ada, name="阿达的客户", created_by=ada.id)
        factories.note(ada.id, free.id, body="上次聊过报价")
        db.session.commit()
        ids = {"pool": pool.id, "free": free.id, "owned": owned.id}
    return {"ada": ada, "bob": bob, "mia": mia, "root": root, **ids}


def test_pool_list_and_record_page_show_history_and_masked_contacts(app, client, login, world):
    with app.app_context():
        db.session.get(Pool, world["pool"]).mask_contacts = True
        db.session.commit()
    login(world["bob"])
    page = client.get("/pool")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "星辰科技" in body and "138****8000" in body and "13800138000" not in body
    record = client.get(f"/pool/customer/{world['free']}").get_data(as_text=True)
    assert "上次聊过报价" in record and "138****8000" in record
    results = client.get("/pool?q=xingchen", headers=hx("pool-results"))
    assert "星辰科技" in results.get_data(as_text=True) and "<html" not in results.get_data(as_text=True)


def test_claim_then_the_second_is_told_who_has_it(app, client, login, world):
    login(world["bob"])
    response = client.post(f"/pool/customer/{world['free']}/claim")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/customers/{world['free']}")
    login(world["ada"])
    refused = client.post(f"/pool/customer/{world['free']}/claim")
    assert refused.status_code == 409
    assert "Bob has just claimed it." in refused.get_data(as_text=True)


def test_claim_refused_by_a_limit_says_so_with_422(app, client, login, world):
    with app.app_context():
        db.session.get(Pool, world["pool"]).daily_claims = 0
        db.session.commit()
    login(world["bob"])
    refused = client.post(f"/pool/customer/{world['free']}/claim")
    assert refused.status_code == 422
    assert "Daily claim limit reached: 0 a day" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Customer, world["free"]).owner_id is None


def test_release_with_reason_then_lock_and_unlock_from_the_panel(app, client, login, world):
    login(world["ada"])
    panel = client.get(f"/pool/customer/{world['owned']}/panel", headers=hx("pool-panel"))
    assert panel.status_code == 200 and 'id="lock-button"' in panel.get_data(as_text=True)
    locked = client.post(f"/pool/customer/{world['owned']}/lock", headers=hx("pool-panel"))
    assert 'id="unlock-button"' in locked.get_data(as_text=True)
    unlocked = client.post(f"/pool/customer/{world['owned']}/unlock", headers=hx("pool-panel"))
    assert 'id="lock-button"' in unlocked.get_data(as_text=True)
    empty = client.post(f"/pool/customer/{world['owned']}/release", data={"reason": ""},
                        headers=hx("pool-panel"))
    assert empty.status_code == 422 and "Say why you release it." in empty.get_data(as_text=True)
    released = client.post(f"/pool/customer/{world['owned']}/release", data={"reason": "无需求"})
    assert released.status_code == 303
    with app.app_context():
        assert db.session.get(Customer, world["owned"]).owner_id is None
    # No longer hers: the customer page is gone for her, the pool page shows it.
    assert client.get(f"/customers/{world['owned']}").status_code in (403, 404)
    assert client.get(f"/pool/customer/{world['owned']}").status_code == 200


def test_transfer_one_and_many(app, client, login, world):
    login(world["mia"])
    one = client.post(f"/pool/customer/{world['owned']}/transfer",
                      data={"owner_id": world["bob"].id, "note": "换人跟进"})
    assert one.status_code == 303
    many = client.post("/pool/transfer", data={"kind": "customer", "customer_id": [world["owned"], world["free"]],
                                                "transfer_owner_id": world["ada"].id, "transfer_note": ""})
    assert many.status_code == 303
    with app.app_context():
        assert {db.session.get(Customer, i).owner_id for i in (world["owned"], world["free"])} == {world["ada"].id}
    history = client.get(f"/pool/customer/{world['owned']}/panel").get_data(as_text=True)
    assert "换人跟进" in history and "transferred" in history


def test_admin_bad_input_is_refused_beside_the_field(app, client, login, world):
    login(world["root"])
    assert client.get("/admin/pools").status_code == 200
    page = client.get(f"/admin/pools/{world['pool']}")
    assert page.status_code == 200
    form = {"name_zh": "客户公海", "name_en": "Customer pool", "enabled": "y", "no_followup_on": "y",
            "no_followup_days": "-5", "no_open_opportunity_days": "60", "not_won_days": "90",
            "cooldown_days": "0", "warn_days": "3", "own_cap": str(10**9)}
    refused = client.post(f"/admin/pools/{world['pool']}", data=form)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "from 1 to 3650" in body and "from 0 to 100,000" in body
    with app.app_context():
        pool = db.session.get(Pool, world["pool"])
        assert pool.no_followup_on is False and pool.own_cap is None
    form.update(no_followup_days="20", own_cap="50")
    assert client.post(f"/admin/pools/{world['pool']}", data=form).status_code == 303
    with app.app_context():
        pool = db.session.get(Pool, world["pool"])
        assert pool.no_followup_on is True and pool.no_followup_days == 20 and pool.own_cap == 50


def test_admin_cannot_disable_a_pool_holding_records(app, client, login, world):
    login(world["root"])
    form = {"name_zh": "客户公海", "name_en": "Customer pool", "no_followup_days": "30",
            "no_open_opportunity_days": "60", "not_won_days": "90", "cooldown_days": "0", "warn_days": "3"}
    refused = client.post(f"/admin/pools/{world['pool']}", data=form)  # enabled unticked
    assert refused.status_code == 422 and "holds 1 records" in refused.get_data(as_text=True)
    deleted = client.post(f"/admin/pools/{world['pool']}/delete")
    assert deleted.status_code == 422 and "move them" in deleted.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Pool, world["pool"]).enabled


def test_admin_levels(app, client, login, world):
    login(world["root"])
    assert client.post("/admin/levels", data={"name": ""}).status_code == 422
    assert client.post("/admin/levels", data={"name": "D 沉睡"}).status_code == 303
    with app.app_context():
        level = db.session.execute(select(CustomerLevel).where(CustomerLevel.name == "D 沉睡")).scalar_one()
        factories.customer(None, name="用了D", level_id=level.id)
        level_id = level.id
    refused = client.post(f"/admin/levels/{level_id}/delete")
    assert refused.status_code == 422 and "in use" in refused.get_data(as_text=True)
    assert client.post(f"/admin/levels/{level_id}/move", data={"direction": "up"}).status_code == 303


# --- the visibility matrix of the new routes ---------------------------------------------------------

MATRIX = [
    # (method, path, {role: expected status})
    ("GET", "/pool", {"sales": 200, "manager": 200, "admin": 200}),
    ("GET", "/pool/customer/{free}", {"sales": 200, "manager": 200, "admin": 200}),
    ("GET", "/pool/customer/{owned}", {"other": 404, "sales": 200, "manager": 200, "admin": 200}),
    ("GET", "/pool/customer/{owned}/panel", {"other": 404, "sales": 200, "manager": 200}),
    ("POST", "/pool/customer/{owned}/release", {"other": 404}),
    ("POST", "/pool/customer/{owned}/lock", {"other": 404, "manager": 403}),
    ("POST", "/pool/customer/{owned}/transfer", {"other": 404, "sales": 403}),
    ("POST", "/pool/transfer", {"sales": 403}),
    ("GET", "/pool/nothing/1", {"sales": 404}),
    ("GET", "/pool/customer/999999", {"sales": 404}),
    ("GET", "/admin/pools", {"sales": 403, "manager": 403, "admin": 200}),
    ("GET", "/admin/pools/{pool}", {"sales": 403, "manager": 403, "admin": 200}),
    ("POST", "/admin/pools/{pool}/delete", {"sales": 403, "manager": 403}),
    ("POST", "/admin/levels", {"sales": 403, "manager": 403}),
]


@pytest.mark.parametrize("method,path,expected", MATRIX, ids=[f"{m} {p}" for m, p, _e in MATRIX])
def test_visibility_matrix(app, client, login, world, method, path, expected):
    users = {"sales": world["ada"], "other": world["bob"], "manager": world["mia"], "admin": world["root"]}
    url = path.format(**world)
    for role, status in expected.items():
        login(users[role])
        response = client.get(url) if method == "GET" else client.post(url, data={})
        assert response.status_code == status, (role, url, response.status_code)
    client.post("/logout")
    assert client.get(url).status_code in (302, 303)


def test_bulk_transfer_on_the_lists_is_for_managers(app, client, login, world):
    login(world["mia"])
    assert 'id="bulk-transfer"' in client.get("/customers").get_data(as_text=True)
    login(world["ada"])
    assert 'id="bulk-transfer"' not in client.get("/customers").get_data(as_text=True)


def test_pool_pages_cost_the_same_statements_at_few_and_many_rows(app, client, login, world):
    """/pool, its soon tab and a record's panel: the same statements at 2 and 60 records
    (the pool's, and the seller's own returning soon), within the budget of 8."""
    from tests.conftest import count_queries
    with app.app_context():
        pool = db.session.get(Pool, world["pool"])
        pool.no_followup_on, pool.not_won_on, pool.warn_days = True, True, 3
        db.session.commit()
    login(world["ada"])
    paths = ["/pool", "/pool/soon-count", "/pool?tab=soon", f"/pool/customer/{world['owned']}/panel"]

    def counts():
        found = []
        for path in paths:
            client.get(path)
            with app.app_context(), count_queries(db.engine) as statements:
                assert client.get(path).status_code == 200
            found.append(len(statements))
        return found

    few = counts()
    with app.app_context():
        from datetime import timedelta
        from crm.models import utcnow
        for n in range(30):
            factories.customer(None, name=f"池{n}", commit=False)
            mine = factories.customer(world["ada"].id, name=f"我的{n}", commit=False)
            mine.owner_since = utcnow() - timedelta(days=28)
        db.session.commit()
    many = counts()
    assert few == many and max(many) <= 8, (few, many)
    badge = client.get("/pool/soon-count").get_data(as_text=True)
    assert 'id="soon-badge"' in badge and ">30<" in badge


def test_the_navigation_loads_my_count_returning_soon_after_the_page(app, client, login, world):
    """Every page asks for the owner's count after it loads (the page's own statements do not
    change); the answer links to the soon tab, and is nothing at zero."""
    login(world["ada"])
    page = client.get("/customers").get_data(as_text=True)
    assert 'id="nav-soon"' in page and 'hx-get="/pool/soon-count?place=nav"' in page
    empty = client.get("/pool/soon-count?place=nav").get_data(as_text=True)
    assert 'id="nav-soon"' in empty and "href" not in empty
    with app.app_context():
        from datetime import timedelta
        from crm.models import utcnow
        pool = db.session.get(Pool, world["pool"])
        pool.no_followup_on, pool.warn_days = True, 3
        db.session.get(Customer, world["owned"]).owner_since = utcnow() - timedelta(days=28)
        db.session.commit()
    badge = client.get("/pool/soon-count?place=nav").get_data(as_text=True)
    assert 'id="nav-soon"' in badge and 'href="/pool?tab=soon"' in badge and ">1<" in badge
    assert 'id="soon-badge"' not in badge  # the /pool tab's own badge is another element
    login(world["bob"])
    assert "href" not in client.get("/pool/soon-count?place=nav").get_data(as_text=True)
