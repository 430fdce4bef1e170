"""The board (/pipeline): columns, totals, cards, marks, filters, load more, query counts,
and the responses the stage route sends back to the board."""
import re
from datetime import date, timedelta

import pytest

from crm.extensions import db as _db
from crm.models import LostReason, Opportunity, Pipeline, Stage, Task, utcnow
from tests import factories
from tests.conftest import count_queries, hx


# --- data -----------------------------------------------------------------------------

def add_opportunities(app, specs, owner=None, customer_name="Acme 科技"):
    """Bare opportunities (no stage history) of one customer, from dicts (stage key or
    stage_id, title, amount, other columns); their ids."""
    with app.app_context():
        stages = factories.stages()
        customer = factories.customer(owner, name=customer_name, commit=False)
        rows = []
        for spec in specs:
            spec = dict(spec)
            stage = stages[spec.pop("stage")] if "stage" in spec else spec.pop("stage_id")
            rows.append(factories.opportunity(
                customer, spec.pop("owner_id", owner), stage=stage, title=spec.pop("title", "Deal"),
                amount=spec.pop("amount", "0"), created_by=owner, history=False, commit=False,
                **spec))
        _db.session.commit()
        return [r.id for r in rows]


@pytest.fixture
def sales(make_user):
    return make_user("sales", email="li@example.com", name="Li Lei")


@pytest.fixture
def sales_client(sales, login):
    return login(sales)


def column_html(html, stage_id):
    """The markup of one column (header and cards)."""
    match = re.search(r'<section class="board-column[^"]*"[^>]*data-stage-id="%d".*?</section>' % stage_id,
                      html, re.S)
    assert match, f"no column for stage {stage_id}"
    return match.group(0)


def head_html(html, stage_id):
    match = re.search(r'<header class="column-head" id="column-head-%d".*?</header>' % stage_id, html, re.S)
    assert match, f"no header for stage {stage_id}"
    return match.group(0)


def count_in(head):
    return int(re.search(r'class="column-count"[^>]*>([\d,]+)<', head).group(1).replace(",", ""))


# --- the page -------------------------------------------------------------------------

def test_board_needs_a_login(client, admin):
    response = client.get("/pipeline")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_board_shows_a_column_per_stage_with_cards(app, sales, sales_client, build):
    stages = build.stages()
    add_opportunities(app, [
        {"stage": "proposal", "title": "ERP rollout", "amount": "120000.50",
         "expected_close": date.today() + timedelta(days=10)},
        {"stage": "discover", "title": "Pilot", "amount": "800"},
    ], owner=sales)
    response = sales_client.get("/pipeline")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html
    assert html.count('class="board-column ') == 8
    assert "Needs analysis" in html and "Lost to competitor" in html
    proposal = column_html(html, stages["proposal"])
    assert "ERP rollout" in proposal and "Acme 科技" in proposal and "Li Lei" in proposal
    assert "120,000.50" in proposal
    assert 'name="stage_id"' in proposal  # the select that moves the card without dragging
    assert "Pilot" in column_html(html, stages["discover"])
    assert "sortable-1.15.7.min.js" in html and "js/board.js" in html
    assert "<script>" not in html  # no inline script


def test_column_totals_use_decimal_amounts_and_probability_overrides(
        app, sales, sales_client, build):
    stages = build.stages()
    add_opportunities(app, [
        # proposal: stage probability 50
        {"stage": "proposal", "amount": "1234.56"},                              # weighted 617.28
        {"stage": "proposal", "amount": "1000.01", "probability_override": 33},   # weighted 330.0033
        {"stage": "proposal", "amount": "0.01", "probability_override": 0},
        {"stage": "negotiation", "amount": "99.99", "probability_override": 100},
    ], owner=sales)
    html = sales_client.get("/pipeline").get_data(as_text=True)
    proposal = head_html(html, stages["proposal"])
    assert count_in(proposal) == 3
    assert "2,234.58" in proposal          # 1234.56 + 1000.01 + 0.01
    assert "947.28" in proposal            # (1234.56 * 50 + 1000.01 * 33) / 100, rounded once
    negotiation = head_html(html, stages["negotiation"])
    assert count_in(negotiation) == 1
    assert negotiation.count("99.99") == 2  # total and weighted (override 100 %)
    assert count_in(head_html(html, stages["discover"])) == 0


def test_column_totals_keep_currencies_apart(app, sales, sales_client, build):
    stages = build.stages()
    add_opportunities(app, [
        {"stage": "confirm", "amount": "1000", "currency": "CNY"},
        {"stage": "confirm", "amount": "500", "currency": "USD"},
        {"stage": "confirm", "amount": "250", "currency": "USD"},
    ], owner=sales)
    head = head_html(sales_client.get("/pipeline").get_data(as_text=True), stages["confirm"])
    assert count_in(head) == 3
    assert 'data-currency="CNY"' in head and 'data-currency="USD"' in head
    assert "1,000.00" in head and "750.00" in head
    assert "1,750" not in head  # never added across currencies
    # the main currency comes first
    assert head.index('data-currency="CNY"') < head.index('data-currency="USD"')


def test_won_and_lost_columns_show_only_recent_closes(app, sales, sales_client, build):
    stages = build.stages()
    now = utcnow()
    add_opportunities(app, [
        {"stage": "signed", "title": "Recent win", "amount": "10", "closed_at": now - timedelta(days=5)},
        {"stage": "signed", "title": "Old win", "amount": "20", "closed_at": now - timedelta(days=40)},
        {"stage": "lost", "title": "Old loss", "closed_at": now - timedelta(days=90)},
    ], owner=sales)
    html = sales_client.get("/pipeline").get_data(as_text=True)
    signed = column_html(html, stages["signed"])
    assert "Recent win" in signed and "Old win" not in signed
    assert count_in(head_html(html, stages["signed"])) == 1
    assert "Closed in the last 30 days" in signed
    assert "Old loss" not in html
    assert count_in(head_html(html, stages["lost"])) == 0


def test_rotting_and_overdue_marks(app, sales, sales_client, build):
    stages = build.stages()
    with app.app_context():
        _db.session.get(Stage, stages["confirm"]).rotting_days = 7
        _db.session.get(Stage, stages["signed"]).rotting_days = 7
        _db.session.commit()
    now = utcnow()
    stale, fresh, won, late_task, done_task, future_task = add_opportunities(app, [
        {"stage": "confirm", "title": "Stale", "last_activity_at": now - timedelta(days=10)},
        {"stage": "confirm", "title": "Fresh", "last_activity_at": now - timedelta(days=3)},
        {"stage": "signed", "title": "Won long ago", "last_activity_at": now - timedelta(days=20)},
        {"stage": "proposal", "title": "Late task"},
        {"stage": "proposal", "title": "Done task"},
        {"stage": "proposal", "title": "Future task"},
    ], owner=sales)
    with app.app_context():
        _db.session.add_all([
            Task(title="Call", opportunity_id=late_task, assignee_id=sales.id, due_at=now - timedelta(hours=2)),
            Task(title="Call", opportunity_id=done_task, assignee_id=sales.id, due_at=now - timedelta(days=2),
                 done=True, done_at=now),
            Task(title="Call", opportunity_id=future_task, assignee_id=sales.id, due_at=now + timedelta(days=1)),
        ])
        _db.session.commit()
    html = sales_client.get("/pipeline").get_data(as_text=True)

    def card(opp_id):
        return re.search(r'<article class="board-card[^"]*"\s+id="card-%d".*?</article>' % opp_id, html, re.S).group(0)

    assert "mark-rotting" in card(stale) and "Idle 10 days" in card(stale)
    assert "mark-rotting" not in card(fresh)
    assert "mark-rotting" not in card(won)  # only open opportunities rot
    assert "mark-overdue" in card(late_task)
    assert "mark-overdue" not in card(done_task)
    assert "mark-overdue" not in card(future_task)


def test_filters_mine_owner_and_close_dates(app, make_user, sales, sales_client, build):
    other = make_user("sales", email="wang@example.com", name="Wang Fang")
    stages = build.stages()
    today = date.today()
    add_opportunities(app, [
        {"stage": "discover", "title": "Mine soon", "expected_close": today + timedelta(days=5)},
        {"stage": "discover", "title": "Mine later", "expected_close": today + timedelta(days=60)},
        {"stage": "discover", "title": "Mine undated"},
    ], owner=sales)
    add_opportunities(app, [{"stage": "discover", "title": "Theirs", "amount": "5"}], owner=other)
    build.team_sees_everything()

    everyone = sales_client.get("/pipeline").get_data(as_text=True)
    assert all(t in everyone for t in ("Mine soon", "Mine later", "Mine undated", "Theirs"))
    assert count_in(head_html(everyone, stages["discover"])) == 4

    mine = sales_client.get("/pipeline?owner=me").get_data(as_text=True)
    assert "Theirs" not in mine and "Mine soon" in mine
    assert count_in(head_html(mine, stages["discover"])) == 3
    assert '<option value="me" selected>' in mine

    theirs = sales_client.get(f"/pipeline?owner={other.id}").get_data(as_text=True)
    assert "Theirs" in theirs and "Mine soon" not in theirs

    window = sales_client.get(
        f"/pipeline?from={today.isoformat()}&to={(today + timedelta(days=30)).isoformat()}").get_data(as_text=True)
    assert "Mine soon" in window and "Mine later" not in window and "Mine undated" not in window
    assert count_in(head_html(window, stages["discover"])) == 1
    assert f'value="{today.isoformat()}"' in window  # the form keeps the filter

    broken = sales_client.get("/pipeline?from=yesterday&owner=nobody")
    assert broken.status_code == 200
    assert "Some filters were not understood" in broken.get_data(as_text=True)
    assert "Theirs" in broken.get_data(as_text=True)


def test_filtering_with_htmx_returns_the_board_fragment(app, sales, sales_client):
    add_opportunities(app, [{"stage": "discover", "title": "Pilot"}], owner=sales)
    response = sales_client.get("/pipeline?owner=me", headers=hx("board"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<form class=\"board-filters\"" not in html
    assert html.lstrip().startswith('<div id="board"')
    assert "Pilot" in html
    assert "HX-Request" in response.headers.get("Vary", "")
    # a boosted or untargeted htmx request gets the whole page
    assert "<html" in sales_client.get("/pipeline", headers=hx()).get_data(as_text=True)


def test_choose_a_pipeline(app, sales, sales_client):
    with app.app_context():
        second = Pipeline(name="Services", position=5)
        second.stages = [Stage(name="Scoping", position=0, probability=25, kind="open"),
                         Stage(name="Done", position=1, probability=100, kind="won"),
                         Stage(name="Dropped", position=2, probability=0, kind="lost")]
        _db.session.add(second)
        _db.session.commit()
        second_id = second.id
    default_page = sales_client.get("/pipeline").get_data(as_text=True)
    assert "Needs analysis" in default_page and "Scoping" not in default_page
    assert 'id="filter-pipeline"' in default_page  # several pipelines: a select
    page = sales_client.get(f"/pipeline?pipeline={second_id}").get_data(as_text=True)
    assert "Scoping" in page and "Needs analysis" not in page
    assert page.count('class="board-column ') == 3
    assert sales_client.get("/pipeline?pipeline=9999").status_code == 404
    assert sales_client.get("/pipeline?pipeline=abc").status_code == 404


def test_cards_of_others_have_no_move_controls_for_sales(
        app, make_user, sales, sales_client, build):
    other = make_user("sales", email="wang@example.com", name="Wang Fang")
    mine, theirs = add_opportunities(app, [{"stage": "discover", "title": "Mine"}], owner=sales) + \
        add_opportunities(app, [{"stage": "discover", "title": "Theirs"}], owner=other)
    build.team_sees_everything()
    html = sales_client.get("/pipeline").get_data(as_text=True)
    mine_card = re.search(r'id="card-%d".*?</article>' % mine, html, re.S).group(0)
    theirs_card = re.search(r'id="card-%d".*?</article>' % theirs, html, re.S).group(0)
    assert "data-movable" in mine_card and 'name="stage_id"' in mine_card
    assert "data-movable" not in theirs_card and 'name="stage_id"' not in theirs_card


# --- load more and query counts -------------------------------------------------------

def test_each_column_shows_50_cards_then_loads_more(app, sales, sales_client, build):
    stages = build.stages()
    today = date.today()
    specs = [{"stage": "discover", "title": f"Deal {i:03d}",
              "expected_close": today + timedelta(days=i % 40) if i % 5 else None} for i in range(123)]
    ids = add_opportunities(app, specs, owner=sales)
    html = sales_client.get("/pipeline").get_data(as_text=True)
    column = column_html(html, stages["discover"])
    assert column.count('<article class="board-card') == 50
    assert count_in(head_html(html, stages["discover"])) == 123
    seen = re.findall(r'id="card-(\d+)"', column)
    more = re.search(r'id="more-%d" href="([^"]+)"' % stages["discover"], column)
    assert more
    pages = 0
    while more:
        url = more.group(1).replace("&amp;", "&")
        response = sales_client.get(url, headers=hx(f"more-{stages['discover']}"))
        assert response.status_code == 200
        fragment = response.get_data(as_text=True)
        assert "<html" not in fragment
        assert f'hx-swap-oob="beforeend:#cards-{stages["discover"]}"' in fragment
        seen += re.findall(r'id="card-(\d+)"', fragment)
        more = re.search(r'id="more-%d" href="([^"]+)"' % stages["discover"], fragment)
        pages += 1
    assert pages == 2
    assert len(seen) == 123 and len(set(seen)) == 123 and set(map(int, seen)) == set(ids)

    # the board order: by expected close date, undated last, then by id
    with app.app_context():
        rows = {o.id: o for o in _db.session.execute(_db.select(Opportunity)).scalars()}
    keys = [(rows[int(i)].expected_close is None, rows[int(i)].expected_close or date.max, int(i)) for i in seen]
    assert keys == sorted(keys)


def test_load_more_without_javascript_is_a_page(app, sales, sales_client, build):
    stages = build.stages()
    add_opportunities(app, [{"stage": "confirm", "title": f"Deal {i}"} for i in range(55)], owner=sales)
    html = sales_client.get("/pipeline?owner=me").get_data(as_text=True)
    url = re.search(r'id="more-%d" href="([^"]+)"' % stages["confirm"], html).group(1).replace("&amp;", "&")
    assert "owner=me" in url  # the filters follow
    response = sales_client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<html" in page and "Back to the board" in page
    assert page.count('<article class="board-card') == 5
    assert 'id="more-' not in page
    assert sales_client.get(f"/pipeline/stages/{stages['confirm']}?after=soon").status_code == 400
    assert sales_client.get("/pipeline/stages/9999").status_code == 404


def test_board_costs_the_same_queries_with_3_or_420_opportunities(app, sales, sales_client, build):
    stages = build.stages()
    keys = ["discover", "confirm", "needs_analysis", "proposal", "negotiation", "signed", "lost"]

    def add(n):
        ids = add_opportunities(app, [{"stage": keys[i % len(keys)], "amount": f"{i}.25",
                                       "expected_close": date.today() + timedelta(days=i)}
                                      for i in range(n)], owner=sales)
        with app.app_context():
            for i in ids[::3]:
                factories.task(sales, "t", opportunity=i, due=utcnow() - timedelta(days=1),
                               commit=False)
            _db.session.commit()

    def queries():
        with app.app_context():
            with count_queries(_db.engine) as statements:
                response = sales_client.get("/pipeline")
        assert response.status_code == 200
        return statements, response.get_data(as_text=True)

    add(3)
    queries()  # the first request also checks once whether any user exists
    small_statements, _ = queries()
    small = len(small_statements)
    add(417)  # 60 per stage: every column is cut at 50
    large_statements, html = queries()
    large = len(large_statements)
    assert large == small, (small_statements, large_statements)
    assert not any("LIMIT" in s and "customers" in s and "JOIN" not in s for s in large_statements)
    assert html.count('<article class="board-card') == 50 * 7
    assert small <= 10, small
    # load more costs the same too
    url = re.search(r'id="more-%d" href="([^"]+)"' % stages["discover"], html).group(1).replace("&amp;", "&")
    with app.app_context():
        with count_queries(_db.engine) as statements:
            assert sales_client.get(url, headers=hx(f"more-{stages['discover']}")).status_code == 200
    assert len(statements) <= 6


# --- moving cards: the stage route answers the board with our fragments ---------------

def board_headers(query=""):
    headers = hx("card-1")
    headers["HX-Current-URL"] = f"http://localhost/pipeline{query}"
    return headers


def test_move_from_the_board_returns_the_card_and_both_column_headers(
        app, make_user, sales, sales_client, build):
    other = make_user("sales", email="wang@example.com", name="Wang Fang")
    build.team_sees_everything()
    stages = build.stages()
    moving, staying = add_opportunities(app, [
        {"stage": "discover", "title": "Moving deal", "amount": "1000.10"},
        {"stage": "discover", "title": "Staying deal", "amount": "5"},
    ], owner=sales)
    add_opportunities(app, [{"stage": "proposal", "title": "Someone else's", "amount": "7"}], owner=other)

    response = sales_client.post(f"/opportunities/{moving}/stage",
                                 data={"stage_id": stages["proposal"], "context": "board"},
                                 headers=board_headers("?owner=me"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    # the card first (the main swap target), in its new stage
    assert html.lstrip().startswith('<article class="board-card')
    assert f'id="card-{moving}"' in html and f'data-stage-id="{stages["proposal"]}"' in html
    # both headers out of band, counted with the board's filters (owner=me)
    discover, proposal = head_html(html, stages["discover"]), head_html(html, stages["proposal"])
    assert 'hx-swap-oob="true"' in discover and 'hx-swap-oob="true"' in proposal
    assert count_in(discover) == 1 and "5.00" in discover
    assert count_in(proposal) == 1 and "1,000.10" in proposal and "500.05" in proposal  # 50 %
    assert 'id="board-totals" hx-swap-oob="true"' in html
    with app.app_context():
        assert _db.session.get(Opportunity, moving).stage_id == stages["proposal"]

    # without filters the other owner's card counts too
    response = sales_client.post(f"/opportunities/{staying}/stage",
                                 data={"stage_id": stages["proposal"], "context": "board"},
                                 headers=board_headers())
    assert count_in(head_html(response.get_data(as_text=True), stages["proposal"])) == 3


def test_moving_to_lost_asks_for_the_reason_inline(app, sales, sales_client, build):
    stages = build.stages()
    with app.app_context():
        retired = _db.session.execute(_db.select(LostReason).filter_by(key="other")).scalar_one()
        retired.active = False
        price_id = _db.session.execute(_db.select(LostReason.id).filter_by(key="price")).scalar_one()
        _db.session.commit()
    (opp,) = add_opportunities(app, [{"stage": "negotiation", "title": "Big bid", "amount": "300"}], owner=sales)
    url = f"/opportunities/{opp}/stage"

    response = sales_client.post(url, data={"stage_id": stages["lost"], "context": "board"},
                                 headers=board_headers())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and "lost-form" in html
    assert f'id="card-{opp}"' in html  # it takes the card's place
    assert f'data-home-stage-id="{stages["negotiation"]}"' in html
    assert f'name="stage_id" value="{stages["lost"]}"' in html and 'name="context" value="board"' in html
    assert "Price" in html and "Competitor" in html and ">Other<" not in html  # active reasons only
    assert "field-error" not in html  # a question, not yet an error
    assert f'hx-get="/pipeline/cards/{opp}"' in html  # Cancel
    with app.app_context():
        assert _db.session.get(Opportunity, opp).stage_id == stages["negotiation"]

    # submitted without a reason: the error, and the note kept
    response = sales_client.post(url, data={"stage_id": stages["lost"], "context": "board",
                                            "lost_reason_id": "", "lost_note": "Went with 友商"},
                                 headers=board_headers())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "field-error" in html and "Went with 友商" in html

    # with the reason: moved; the card lands in the lost column
    response = sales_client.post(url, data={"stage_id": stages["lost"], "context": "board",
                                            "lost_reason_id": price_id, "lost_note": "Too dear"},
                                 headers=board_headers())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-stage-id="{stages["lost"]}"' in html and "lost-form" not in html
    assert count_in(head_html(html, stages["lost"])) == 1
    assert count_in(head_html(html, stages["negotiation"])) == 0
    with app.app_context():
        row = _db.session.get(Opportunity, opp)
        assert (row.status, row.lost_reason_id, row.lost_note) == ("lost", price_id, "Too dear")


def test_cancel_gets_the_card_back_unchanged(app, sales, sales_client, build):
    stages = build.stages()
    (opp,) = add_opportunities(app, [{"stage": "negotiation", "title": "Big bid"}], owner=sales)
    response = sales_client.get(f"/pipeline/cards/{opp}", headers=hx(f"card-{opp}"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "lost-form" not in html
    assert f'id="card-{opp}"' in html and f'data-stage-id="{stages["negotiation"]}"' in html
    # without htmx the URL leads back to the board
    response = sales_client.get(f"/pipeline/cards/{opp}")
    assert response.status_code == 303 and "/pipeline" in response.headers["Location"]
    assert sales_client.get("/pipeline/cards/9999", headers=hx("card-9999")).status_code == 404


def test_card_select_without_javascript_moves_and_comes_back(app, sales, sales_client, build):
    stages = build.stages()
    (opp,) = add_opportunities(app, [{"stage": "discover", "title": "Pilot"}], owner=sales)
    response = sales_client.post(f"/opportunities/{opp}/stage",
                                 data={"stage_id": stages["confirm"], "context": "board"},
                                 headers={"Referer": "http://localhost/pipeline?owner=me"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/pipeline?owner=me")
    html = sales_client.get("/pipeline?owner=me").get_data(as_text=True)
    assert "Pilot" in column_html(html, stages["confirm"])


def test_only_editors_move_cards(app, make_user, sales, sales_client, build):
    other = make_user("sales", email="wang@example.com", name="Wang Fang")
    stages = build.stages()
    (theirs,) = add_opportunities(app, [{"stage": "discover", "title": "Theirs"}], owner=other)
    response = sales_client.post(f"/opportunities/{theirs}/stage",
                                 data={"stage_id": stages["confirm"], "context": "board"},
                                 headers=board_headers())
    assert response.status_code == 403
    with app.app_context():
        assert _db.session.get(Opportunity, theirs).stage_id == stages["discover"]


def test_without_a_pipeline_the_board_says_so(app, sales, sales_client):
    with app.app_context():
        _db.session.execute(_db.delete(Stage))
        _db.session.execute(_db.delete(Pipeline))
        _db.session.commit()
    response = sales_client.get("/pipeline")
    assert response.status_code == 200
    assert "There is no pipeline yet." in response.get_data(as_text=True)
