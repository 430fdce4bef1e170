"""Tags and tag groups: the rules (services) and /tags for admins and managers."""
import pytest

from crm.extensions import db as _db
from crm.models import Customer, Tag, TagGroup, customer_tags
from crm.tags import queries, services
from crm.tags.services import TagRuleError
from tests import factories
from tests.conftest import count_queries, hx


# --- helpers ---------------------------------------------------------------------------

def _tag_names(customer_id):
    _db.session.expire_all()
    return sorted(t.name for t in _db.session.get(Customer, customer_id).tags)


@pytest.fixture
def workspace(app):
    """Industry (single), Behaviour (multiple) and a few customers; returns ids by name."""
    with app.app_context():
        industry = factories.tag_group("Industry", multiple=False, commit=False)
        behaviour = factories.tag_group("Behaviour", multiple=True, commit=False)
        it, retail = (factories.tag(industry, name, commit=False) for name in ("IT", "Retail"))
        demo, price = (factories.tag(behaviour, name, commit=False)
                       for name in ("Attended demo", "Asked price"))
        acme = factories.customer(name="Acme", tags=[it, demo], commit=False)
        star = factories.customer(name="北京星辰科技", tags=[retail, demo, price], commit=False)
        lone = factories.customer(name="Lone", tags=[price], commit=False)
        _db.session.commit()
        ids = {"industry": industry.id, "behaviour": behaviour.id, "it": it.id,
               "retail": retail.id, "demo": demo.id, "price": price.id, "acme": acme.id,
               "star": star.id, "lone": lone.id}
        _db.session.remove()
    return ids


@pytest.fixture
def manager_client(make_user, login):
    return login(make_user("manager", name="Mia Manager"))


# --- rules -----------------------------------------------------------------------------

def test_colours_must_be_six_digit_hex(db):
    assert services.normalise_color(" #A1B2C3 ") == "#a1b2c3"
    for bad in ("red", "#abc", "#12345g", "", None, "a1b2c3", "#a1b2c3d"):
        with pytest.raises(TagRuleError):
            services.normalise_color(bad)


def test_groups_are_appended_and_names_unique_whatever_the_case(db):
    first = services.create_group(name="Industry", multiple=True)
    second = services.create_group(name="Budget", multiple=False)
    assert (first.position, second.position) == (0, 1)
    assert second.multiple is False
    with pytest.raises(TagRuleError):
        services.create_group(name="industry", multiple=True)
    with pytest.raises(TagRuleError):
        services.create_group(name="   ", multiple=True)


def test_tag_names_are_unique_inside_their_group_only(db):
    industry = services.create_group(name="Industry", multiple=True)
    budget = services.create_group(name="Budget", multiple=True)
    services.create_tag(industry, name="Large")
    with pytest.raises(TagRuleError):
        services.create_tag(industry, name="LARGE")
    assert services.create_tag(budget, name="Large").group_id == budget.id


def test_move_group_swaps_neighbours_and_stops_at_the_ends(db):
    a, b, c = (services.create_group(name=name, multiple=True) for name in ("A", "B", "C"))
    assert services.move_group(c, "up") is True
    assert [g.name for g in queries.groups_with_tags()] == ["A", "C", "B"]
    assert services.move_group(a, "up") is False
    assert services.move_group(b, "down") is False
    services.move_group(a, "down")
    assert [g.name for g in queries.groups_with_tags()] == ["C", "A", "B"]


def test_counts_come_from_one_grouped_query(app, workspace):
    with app.app_context():
        with count_queries(_db.engine) as statements:
            counts = queries.tag_customer_counts()
        assert len(statements) == 1
        assert counts == {workspace["it"]: 1, workspace["retail"]: 1, workspace["demo"]: 2,
                          workspace["price"]: 2}
        group_counts = queries.group_customer_counts()
        assert group_counts == {workspace["industry"]: 2, workspace["behaviour"]: 3}


def test_merge_gives_the_target_to_every_customer_of_the_source_once(app, workspace):
    with app.app_context():
        source = _db.session.get(Tag, workspace["price"])
        target = _db.session.get(Tag, workspace["demo"])
        result = services.merge_tags(source, target)
        _db.session.commit()
        assert (result.customers, result.gained, result.already) == (2, 1, 1)
        assert result.single_choice_dropped == 0
        assert _db.session.get(Tag, workspace["price"]) is None
        assert _tag_names(workspace["star"]) == ["Attended demo", "Retail"]
        assert _tag_names(workspace["lone"]) == ["Attended demo"]
        assert _tag_names(workspace["acme"]) == ["Attended demo", "IT"]
        rows = _db.session.execute(_db.select(customer_tags)).all()
        assert len(rows) == len(set(rows)) == 5


def test_merge_into_a_single_choice_group_keeps_only_the_target(app, workspace):
    """Star carries Retail (Industry, single) and Asked price; merging Asked price into IT
    would leave Star with IT and Retail, so Retail goes. Others keep their tags."""
    with app.app_context():
        source = _db.session.get(Tag, workspace["price"])
        target = _db.session.get(Tag, workspace["it"])
        preview = services.merge_preview(source, target)
        assert preview.single_choice_dropped == 1 and preview.dropped_tag_names == ["Retail"]
        assert _tag_names(workspace["star"]) == ["Asked price", "Attended demo", "Retail"]  # untouched
        result = services.merge_tags(_db.session.get(Tag, workspace["price"]),
                                     _db.session.get(Tag, workspace["it"]))
        _db.session.commit()
        assert (result.customers, result.gained, result.single_choice_dropped) == (2, 2, 1)
        assert _tag_names(workspace["star"]) == ["Attended demo", "IT"]
        assert _tag_names(workspace["lone"]) == ["IT"]
        assert _tag_names(workspace["acme"]) == ["Attended demo", "IT"]
        # Retail itself stays, just no longer on Star
        assert _db.session.get(Tag, workspace["retail"]) is not None


def test_merge_inside_a_single_choice_group(app, workspace):
    with app.app_context():
        result = services.merge_tags(_db.session.get(Tag, workspace["retail"]),
                                     _db.session.get(Tag, workspace["it"]))
        _db.session.commit()
        assert (result.customers, result.gained, result.single_choice_dropped) == (1, 1, 0)
        assert _tag_names(workspace["star"]) == ["Asked price", "Attended demo", "IT"]


def test_a_tag_cannot_be_merged_into_itself(app, workspace):
    with app.app_context():
        tag = _db.session.get(Tag, workspace["it"])
        with pytest.raises(TagRuleError):
            services.merge_tags(tag, tag)


def test_deleting_a_tag_untags_customers_and_keeps_them(app, workspace):
    with app.app_context():
        affected = services.delete_tag(_db.session.get(Tag, workspace["demo"]))
        _db.session.commit()
        assert affected == 2
        assert _tag_names(workspace["acme"]) == ["IT"]
        assert _db.session.query(Customer).count() == 3


def test_deleting_a_group_deletes_its_tags_and_reports_distinct_customers(app, workspace):
    with app.app_context():
        group = _db.session.get(TagGroup, workspace["behaviour"])
        assert services.customers_in_group(group) == 3
        affected = services.delete_group(group)
        _db.session.commit()
        assert affected == 3
        assert _db.session.query(Tag).count() == 2
        assert _tag_names(workspace["star"]) == ["Retail"]


def test_a_group_becomes_single_choice_only_without_conflicts(app, workspace):
    with app.app_context():
        behaviour = _db.session.get(TagGroup, workspace["behaviour"])
        assert services.customers_with_several_tags_of(behaviour) == 1
        with pytest.raises(TagRuleError):
            services.update_group(behaviour, name="Behaviour", multiple=False)
        services.delete_tag(_db.session.get(Tag, workspace["price"]))
        services.update_group(behaviour, name="Behaviour tags", multiple=False)
        _db.session.commit()
        assert behaviour.multiple is False and behaviour.name == "Behaviour tags"


def test_apply_tag_replaces_the_other_tag_of_a_single_choice_group(app, workspace):
    with app.app_context():
        star = _db.session.get(Customer, workspace["star"])
        replaced = services.apply_tag(star, _db.session.get(Tag, workspace["it"]))
        assert [t.name for t in replaced] == ["Retail"]
        assert services.apply_tag(star, _db.session.get(Tag, workspace["price"])) == []
        _db.session.commit()
        assert _tag_names(workspace["star"]) == ["Asked price", "Attended demo", "IT"]


# --- routes: permissions -----------------------------------------------------------------

@pytest.mark.parametrize("method,path,headers", [
    ("get", "/tags", None),
    ("get", "/tags", hx("groups")),
    ("post", "/tags/groups", None),
    ("get", "/tags/groups/{industry}/edit", hx("group-head-{industry}")),
    ("post", "/tags/groups/{industry}/move", hx("groups")),
    ("get", "/tags/groups/{industry}/delete", None),
    ("post", "/tags/groups/{industry}/delete", None),
    ("post", "/tags/groups/{industry}/tags", hx("group-{industry}")),
    ("get", "/tags/{it}", hx("tag-row-{it}")),
    ("get", "/tags/{it}/edit", hx("tag-row-{it}")),
    ("post", "/tags/{it}/color", hx("tag-row-{it}")),
    ("get", "/tags/{it}/merge?target_id={retail}", hx("merge-preview")),
    ("post", "/tags/{it}/merge", None),
    ("get", "/tags/{it}/delete", hx("tag-row-{it}")),
    ("post", "/tags/{it}/delete", None),
])
def test_sales_are_refused_pages_fragments_and_actions(client, make_user, login, workspace,
                                                        method, path, headers):
    login(make_user("sales"))
    headers = {k: v.format(**workspace) for k, v in (headers or {}).items()}
    response = getattr(client, method)(path.format(**workspace), headers=headers,
                                       data={"color": "#000000", "target_id": workspace["retail"],
                                             "name": "x", "direction": "up"})
    assert response.status_code == 403
    with client.application.app_context():
        assert _db.session.query(Tag).count() == 4
        assert _db.session.get(Tag, workspace["it"]).color == "#336699"


def test_tags_page_needs_login(client, make_user):
    make_user("admin")
    response = client.get("/tags")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admins_and_managers_see_groups_tags_and_counts(client, make_user, login, workspace):
    for role in ("admin", "manager"):
        login(make_user(role))
        response = client.get("/tags")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<html" in html and "Industry" in html and "Behaviour" in html
        assert "Single choice" in html and "Multiple choice" in html
        assert 'id="tag-row-%d"' % workspace["demo"] in html
        assert 'type="color"' in html


def test_tags_page_costs_the_same_queries_with_more_tags(app, manager_client, workspace):
    with app.app_context():
        engine = _db.engine

    def queries():
        with count_queries(engine) as statements:
            assert manager_client.get("/tags").status_code == 200
        return len(statements)

    queries()  # the first request also learns that users exist
    before = queries()
    with app.app_context():
        group = _db.session.get(TagGroup, workspace["behaviour"])
        customers = factories.customers(20, name="Customer {n}", commit=False)
        for i in range(30):
            tag = factories.tag(group, f"Behaviour {i}", commit=False)
            for customer in customers[: i % 7]:
                customer.tags.append(tag)
        _db.session.commit()
    assert queries() == before


# --- routes: groups ---------------------------------------------------------------------

def test_create_group_then_it_is_listed_last(app, manager_client, workspace):
    response = manager_client.post("/tags/groups", data={"name": "预算", "choice": "single"})
    assert response.status_code == 303
    assert "/tags#group-" in response.headers["Location"]
    with app.app_context():
        group = _db.session.execute(_db.select(TagGroup).filter_by(name="预算")).scalar_one()
        assert group.multiple is False and group.position == 2


def test_create_group_with_bad_input_is_422_and_keeps_it(manager_client, workspace):
    response = manager_client.post("/tags/groups", data={"name": "", "choice": "multiple"})
    assert response.status_code == 422
    assert "Enter a name." in response.get_data(as_text=True)
    response = manager_client.post("/tags/groups", data={"name": "industry", "choice": "multiple"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="industry"' in html and "already exists" in html


def test_edit_group_inline_and_on_its_page(app, manager_client, workspace):
    gid = workspace["industry"]
    response = manager_client.get(f"/tags/groups/{gid}/edit", headers=hx(f"group-head-{gid}"))
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert 'value="Industry"' in response.get_data(as_text=True)
    response = manager_client.post(f"/tags/groups/{gid}/edit", data={"name": "行业", "choice": "single"},
                                   headers=hx(f"group-head-{gid}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'id="group-head-{gid}"' in html and "行业" in html
    assert manager_client.get(f"/tags/groups/{gid}/edit").status_code == 200
    response = manager_client.post(f"/tags/groups/{gid}/edit", data={"name": "Industry", "choice": "multiple"})
    assert response.status_code == 303
    with app.app_context():
        assert _db.session.get(TagGroup, gid).multiple is True


def test_making_a_group_single_choice_with_conflicts_is_refused(app, manager_client, workspace):
    gid = workspace["behaviour"]
    response = manager_client.post(f"/tags/groups/{gid}/edit",
                                   data={"name": "Behaviour", "choice": "single"},
                                   headers=hx(f"group-head-{gid}"))
    assert response.status_code == 422
    assert "1 customer has several tags of this group" in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(TagGroup, gid).multiple is True


def test_move_group_returns_the_reordered_list(app, manager_client, workspace):
    gid = workspace["behaviour"]
    response = manager_client.post(f"/tags/groups/{gid}/move", data={"direction": "up"},
                                   headers=hx("groups"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.index("Behaviour") < html.index("Industry")
    response = manager_client.post(f"/tags/groups/{gid}/move", data={"direction": "down"})
    assert response.status_code == 303
    assert manager_client.post(f"/tags/groups/{gid}/move", data={"direction": "x"}).status_code == 400


def test_delete_group_confirms_with_the_count_then_deletes(app, manager_client, workspace):
    gid = workspace["behaviour"]
    response = manager_client.get(f"/tags/groups/{gid}/delete")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 customers carry a tag of this group" in html and "2 tags will be deleted" in html
    response = manager_client.post(f"/tags/groups/{gid}/delete")
    assert response.status_code == 303
    page = manager_client.get("/tags").get_data(as_text=True)
    assert "3 customers lost their tags" in page
    with app.app_context():
        assert _db.session.get(TagGroup, gid) is None
        assert _db.session.query(Customer).count() == 3


# --- routes: tags -----------------------------------------------------------------------

def test_add_tag_inline_returns_the_group(app, manager_client, workspace):
    gid = workspace["industry"]
    response = manager_client.post(f"/tags/groups/{gid}/tags",
                                   data={f"g{gid}-name": "制造业", f"g{gid}-color": "#AA5500"},
                                   headers=hx(f"group-{gid}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'id="group-{gid}"' in html and "制造业" in html
    with app.app_context():
        tag = _db.session.execute(_db.select(Tag).filter_by(name="制造业")).scalar_one()
        assert tag.color == "#aa5500" and tag.group_id == gid


def test_add_tag_with_bad_input_is_422_with_the_input(app, manager_client, workspace):
    gid = workspace["industry"]
    response = manager_client.post(f"/tags/groups/{gid}/tags",
                                   data={f"g{gid}-name": "it", f"g{gid}-color": "blue"},
                                   headers=hx(f"group-{gid}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html
    assert 'value="it"' in html
    assert "already has a tag with this name" in html and "#1a2b3c" in html
    # without JavaScript: the whole page, still 422
    response = manager_client.post(f"/tags/groups/{gid}/tags",
                                   data={f"g{gid}-name": "", f"g{gid}-color": "#000000"})
    assert response.status_code == 422 and "<html" in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.query(Tag).count() == 4


def test_recolour_inline_returns_the_row(app, manager_client, workspace):
    tid = workspace["it"]
    response = manager_client.post(f"/tags/{tid}/color", data={"color": "#FF8800"},
                                   headers=hx(f"tag-row-{tid}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith("<tr") and "--tag-color: #ff8800" in html
    response = manager_client.post(f"/tags/{tid}/color", data={"color": "orange"},
                                   headers=hx(f"tag-row-{tid}"))
    assert response.status_code == 422 and "#1a2b3c" in response.get_data(as_text=True)
    # without JavaScript
    response = manager_client.post(f"/tags/{tid}/color", data={"color": "#00aa00"})
    assert response.status_code == 303
    with app.app_context():
        assert _db.session.get(Tag, tid).color == "#00aa00"


def test_rename_inline(app, manager_client, workspace):
    tid = workspace["it"]
    response = manager_client.get(f"/tags/{tid}/edit", headers=hx(f"tag-row-{tid}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'value="IT"' in html
    response = manager_client.post(f"/tags/{tid}/edit", data={"name": "Retail", "color": "#336699"},
                                   headers=hx(f"tag-row-{tid}"))
    assert response.status_code == 422
    assert 'value="Retail"' in response.get_data(as_text=True)
    response = manager_client.post(f"/tags/{tid}/edit", data={"name": "互联网", "color": "#336699"},
                                   headers=hx(f"tag-row-{tid}"))
    assert response.status_code == 200 and "互联网" in response.get_data(as_text=True)
    cancel = manager_client.get(f"/tags/{tid}", headers=hx(f"tag-row-{tid}"))
    assert cancel.status_code == 200 and "互联网" in cancel.get_data(as_text=True)
    assert manager_client.get(f"/tags/{tid}").status_code == 302
    # the page works without JavaScript too
    assert manager_client.get(f"/tags/{tid}/edit").status_code == 200
    response = manager_client.post(f"/tags/{tid}/edit", data={"name": "IT", "color": "#111111"})
    assert response.status_code == 303


def test_merge_previews_then_merges_and_says_what_happened(app, manager_client, workspace):
    source, target = workspace["price"], workspace["it"]
    page = manager_client.get(f"/tags/{source}/merge")
    assert page.status_code == 200 and "Choose a tag to see" in page.get_data(as_text=True)
    preview = manager_client.get(f"/tags/{source}/merge?target_id={target}", headers=hx("merge-preview"))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "<html" not in html
    assert "2 customers will get IT" in html
    assert "Industry is single-choice: 1 customer will keep only IT and lose Retail" in html
    response = manager_client.post(f"/tags/{source}/merge", data={"target_id": target})
    assert response.status_code == 303
    flashed = manager_client.get("/tags").get_data(as_text=True)
    assert "Asked price was merged into IT: 2 customers carried it." in flashed
    assert "1 customer kept only IT and lost Retail" in flashed
    with app.app_context():
        assert _db.session.get(Tag, source) is None
        assert _tag_names(workspace["star"]) == ["Attended demo", "IT"]


def test_merge_needs_another_existing_tag(app, manager_client, workspace):
    tid = workspace["it"]
    for data in ({}, {"target_id": tid}, {"target_id": 99999}, {"target_id": "abc"}):
        response = manager_client.post(f"/tags/{tid}/merge", data=data)
        assert response.status_code == 422
        assert "field-error" in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Tag, tid) is not None


def test_delete_tag_confirms_with_the_count_then_deletes(app, manager_client, workspace):
    tid = workspace["demo"]
    inline = manager_client.get(f"/tags/{tid}/delete", headers=hx(f"tag-row-{tid}"))
    html = inline.get_data(as_text=True)
    assert inline.status_code == 200 and "<html" not in html
    assert "It is on 2 customers" in html
    page = manager_client.get(f"/tags/{tid}/delete")
    assert page.status_code == 200 and "It is on 2 customers" in page.get_data(as_text=True)
    response = manager_client.post(f"/tags/{tid}/delete", headers=hx(f"tag-row-{tid}"))
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/tags")
    assert "removed from 2 customers" in manager_client.get("/tags").get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Tag, tid) is None
        assert _tag_names(workspace["acme"]) == ["IT"]


def test_unknown_ids_are_404(manager_client, workspace):
    assert manager_client.get("/tags/99999/edit").status_code == 404
    assert manager_client.post("/tags/groups/99999/delete").status_code == 404
