"""The duplicate check (查重) for customers a salesperson may not see: the list's search and
the new-customer form say that a matching customer exists and who owns it (the owner's name,
nothing else of the record), and offer to ask the owner to share it (a task for the owner)."""
import re

from crm.extensions import db
from crm.models import Customer, Task
from tests import factories
from tests.conftest import csrf_token_from

SECRET_NAME = "北京星辰科技有限公司"
SECRET_PHONE = "+86 138-0013-8000"
SECRET_EMAIL = "secret@xingchen.example"


def _world(app, make_user):
    me = make_user("sales", email="me@example.com", name="Sam Seller")
    owner = make_user("sales", email="owner@example.com", name="李娜", language="zh_CN")
    with app.app_context():
        hidden = factories.customer(owner, name=SECRET_NAME, phone=SECRET_PHONE,
                                    email=SECRET_EMAIL, industry="制造 Manufacturing",
                                    contacts=[{"name": "赵敏", "phone": "021-5555-0101"}])
        return me, owner, hidden.id


def _assert_nothing_of_it(html: str, customer_id: int):
    for secret in (SECRET_NAME, SECRET_PHONE, SECRET_EMAIL, "赵敏", "021-5555-0101", "Manufacturing"):
        assert secret not in html
    assert not re.search(rf"/customers/{customer_id}\b", html)


def test_a_search_finding_only_a_hidden_customer_says_who_owns_it(app, client, login, make_user):
    me, _owner, customer_id = _world(app, make_user)
    login(me)
    html = client.get("/customers?q=星辰").get_data(as_text=True)
    assert "No customer matches this search or filter." in html
    assert "A customer you cannot see matches" in html and "李娜" in html
    assert "Ask for it to be shared" in html
    _assert_nothing_of_it(html, customer_id)
    # The pinyin finds it too; a search matching nothing hidden says nothing of the kind.
    assert "A customer you cannot see" in client.get("/customers?q=xingchen").get_data(as_text=True)
    assert "A customer you cannot see" not in client.get("/customers?q=nothing-like-it").get_data(
        as_text=True)


def test_who_sees_everything_gets_no_hint(app, client, login, make_user):
    _me, _owner, _customer_id = _world(app, make_user)
    manager = make_user("manager", email="boss@example.com", name="Boss")
    login(manager)
    html = client.get("/customers?q=星辰").get_data(as_text=True)
    assert SECRET_NAME in html and "A customer you cannot see" not in html


def test_the_request_is_a_task_for_the_owner_once(app, client, login, make_user):
    me, owner, customer_id = _world(app, make_user)
    login(me)
    html = client.get("/customers?q=星辰").get_data(as_text=True)
    token = re.search(r'name="share_token" value="([^"]+)"', html).group(1)
    assert str(customer_id) != token and f":{customer_id}" not in token.split(".")[0]
    form = {"share_token": token, "q": "星辰", "csrf_token": csrf_token_from(html),
            "next": "/customers?q=星辰"}
    response = client.post("/customers/share-requests", data=form)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(("/customers?q=%E6%98%9F%E8%BE%B0", "/customers?q=星辰"))
    with app.app_context():
        [task] = db.session.execute(db.select(Task)).scalars().all()
        assert task.assignee_id == owner.id and task.created_by_id == me.id
        assert task.customer_id == customer_id and not task.done
        assert "Sam Seller" in task.title and "星辰" in task.title
        assert SECRET_NAME not in task.title
    page = client.get("/customers?q=星辰").get_data(as_text=True)
    assert "Asked 李娜 to share it with you." in page
    # Asking again adds nothing; htmx gets the answer in place.
    again = client.post("/customers/share-requests", data=form, headers={"HX-Request": "true"})
    assert again.status_code == 200
    assert "You already asked 李娜 to share it." in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Task).count() == 1
    # The requester's task list names nothing of the customer either.
    _assert_nothing_of_it(client.get("/tasks?view=created").get_data(as_text=True), customer_id)


def test_a_forged_or_foreign_token_is_a_404(app, client, login, make_user):
    me, _owner, customer_id = _world(app, make_user)
    login(me)
    html = client.get("/customers").get_data(as_text=True)
    for token in ("", "garbage", str(customer_id), "eyJhIjoxfQ.forged.sig"):
        response = client.post("/customers/share-requests",
                               data={"share_token": token, "csrf_token": csrf_token_from(html)})
        assert response.status_code == 404
    with app.app_context():
        assert db.session.query(Task).count() == 0


def test_the_new_customer_form_names_the_owner_of_a_hidden_duplicate(app, client, login, make_user):
    me, _owner, customer_id = _world(app, make_user)
    login(me)
    html = client.get("/customers/duplicates?name=星辰科技&phone=&email=",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "A customer you cannot see" in html and "李娜" in html
    assert "Ask for it to be shared" in html
    _assert_nothing_of_it(html, customer_id)
    # Posted without JavaScript, the form stops on the duplicate with the same hint.
    page = client.get("/customers/new").get_data(as_text=True)
    response = client.post("/customers/new", data={
        "name": "星辰科技", "kind": "company", "csrf_token": csrf_token_from(page)})
    body = response.get_data(as_text=True)
    assert "李娜" in body and "Ask for it to be shared" in body
    _assert_nothing_of_it(body, customer_id)
    with app.app_context():
        assert db.session.query(Customer).count() == 1
