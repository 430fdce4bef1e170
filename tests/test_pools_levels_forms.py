"""The customer level (客户级别) outside the pool panel: a select on the customer and lead
forms (the levels in their order, optional, a level that is not one refused beside the
field), a small badge on the list cards and a level filter on both lists."""
import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Customer, CustomerLevel, Lead
from tests import factories


@pytest.fixture
def levels(app):
    with app.app_context():
        first, second = CustomerLevel(name="Gold 金牌", position=0), CustomerLevel(name="Iron 铁牌", position=1)
        # Added out of order: the select follows the positions, not the ids.
        db.session.add_all([second, first])
        db.session.commit()
        return {"gold": first.id, "iron": second.id}


def test_the_customer_form_sets_and_keeps_the_level(app, client, make_user, login, levels):
    user = make_user("sales", name="Li Na")
    login(user)
    html = client.get("/customers/new").get_data(as_text=True)
    assert 'name="level_id"' in html
    assert html.index("Gold 金牌") < html.index("Iron 铁牌")
    response = client.post("/customers/new", data={"kind": "company", "name": "上海云帆贸易",
                                                   "owner_id": str(user.id),
                                                   "level_id": str(levels["iron"])})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.execute(select(Customer)).scalar_one()
        assert customer.level_id == levels["iron"]
        customer_id, version = customer.id, customer.version
    # A level that is not one: refused beside the field, nothing saved.
    response = client.post(f"/customers/{customer_id}/edit", data={
        "kind": "company", "name": "上海云帆贸易", "owner_id": str(user.id), "level_id": "9999",
        "version": str(version)})
    assert response.status_code == 422
    assert "Choose a level from the list." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Customer, customer_id).level_id == levels["iron"]
    # Empty: no level.
    response = client.post(f"/customers/{customer_id}/edit", data={
        "kind": "company", "name": "上海云帆贸易", "owner_id": str(user.id), "level_id": "",
        "version": str(version)})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Customer, customer_id).level_id is None


def test_the_customer_list_shows_the_level_badge_and_filters_by_level(app, client, make_user,
                                                                       login, levels):
    user = make_user("sales")
    with app.app_context():
        factories.customer(user, name="金牌客户", level_id=levels["gold"])
        factories.customer(user, name="铁牌客户", level_id=levels["iron"])
        factories.customer(user, name="无级别客户")
    login(user)
    html = client.get("/customers").get_data(as_text=True)
    assert 'class="pill level-badge"' in html and 'id="filter-level"' in html
    filtered = client.get(f"/customers?level={levels['gold']}").get_data(as_text=True)
    assert "金牌客户" in filtered and "铁牌客户" not in filtered and "无级别客户" not in filtered
    # A broken level is no filter.
    assert "无级别客户" in client.get("/customers?level=abc").get_data(as_text=True)


def test_the_lead_form_sets_the_level_and_the_list_shows_and_filters_it(app, client, make_user,
                                                                        login, levels):
    user = make_user("sales")
    login(user)
    html = client.get("/leads/new").get_data(as_text=True)
    assert 'name="level_id"' in html and html.index("Gold 金牌") < html.index("Iron 铁牌")
    assert client.post("/leads/new", data={"name": "王芳", "level_id": str(levels["gold"])}).status_code == 303
    assert client.post("/leads/new", data={"name": "李雷"}).status_code == 303
    response = client.post("/leads/new", data={"name": "韩梅梅", "level_id": "9999"})
    assert response.status_code == 422
    with app.app_context():
        by_name = {lead.name: lead.level_id for lead in db.session.execute(select(Lead)).scalars()}
    assert by_name == {"王芳": levels["gold"], "李雷": None}
    cards = client.get("/leads").get_data(as_text=True)
    assert 'class="pill level-badge"' in cards and 'id="f-level"' in cards
    filtered = client.get(f"/leads?level_id={levels['gold']}").get_data(as_text=True)
    assert "王芳" in filtered and "李雷" not in filtered


def test_level_select_and_filter_in_chinese(app, client, make_user, login, levels):
    user = make_user("sales", language="zh_CN")
    login(user)
    html = client.get("/customers").get_data(as_text=True)
    assert "全部级别" in html
    assert "级别" in client.get("/leads/new").get_data(as_text=True)
