"""stage_totals and closed_totals, kept by database triggers (crm/stage_totals.py), equal a
fresh count of the opportunities after every kind of write: ORM inserts and updates, bulk
statements, trash and restore, deletes."""
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import text

from crm import stage_totals
from crm.extensions import db
from crm.models import ClosedTotal, Customer, Opportunity, Pipeline, StageTotal, utcnow


def _table():
    rows = db.session.execute(db.select(StageTotal)).scalars()
    return {(r.stage_id, r.currency): (r.count, Decimal(r.amount_cents), Decimal(r.floating_cents),
                                       Decimal(r.fixed_weighted))
            for r in rows if r.count}


def _closed_table():
    rows = db.session.execute(db.select(ClosedTotal)).scalars()
    return {(r.stage_id, r.currency, r.day): (r.count, Decimal(r.amount_cents),
                                              Decimal(r.floating_cents), Decimal(r.fixed_weighted))
            for r in rows if r.count}


def _fresh(by_day=False):
    result = {}
    for opp in db.session.execute(
            db.select(Opportunity).execution_options(include_deleted=True)).scalars():
        if opp.deleted_at is not None or (by_day and opp.closed_at is None):
            continue
        key = (opp.stage_id, opp.currency or "")
        if by_day:
            key += (opp.closed_at.astimezone(timezone.utc).date(),)
        cents = (Decimal(opp.amount or 0) * 100).quantize(Decimal(1))
        count, amount, floating, fixed = result.get(key, (0, Decimal(0), Decimal(0), Decimal(0)))
        if opp.probability_override is None:
            floating += cents
        else:
            fixed += cents * opp.probability_override
        result[key] = (count + 1, amount + cents, floating, fixed)
    return result


def test_triggers_keep_the_totals(app, admin):
    rng = random.Random(11)
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline)).scalars().first()
        stage_ids = [s.id for s in pipeline.stages]
        customer = Customer(name="Totals Co", owner_id=admin.id, created_by_id=admin.id)
        db.session.add(customer)
        db.session.flush()
        opps = []
        for i in range(40):
            opp = Opportunity(title=f"Deal {i}", customer_id=customer.id, pipeline_id=pipeline.id,
                              stage_id=rng.choice(stage_ids), owner_id=admin.id,
                              amount=Decimal(rng.randint(0, 10**9)) / 100,
                              currency=rng.choice(["CNY", "USD", "EUR"]),
                              probability_override=rng.choice([None, None, 0, 35, 100]))
            db.session.add(opp)
            opps.append(opp)
        db.session.commit()
        assert _table() == _fresh()
        assert _closed_table() == _fresh(by_day=True) == {}

        start = datetime(2026, 3, 28, 23, 30, tzinfo=timezone.utc)
        for step in range(160):
            opp = rng.choice(opps)
            action = rng.choice(["move", "amount", "currency", "override", "title", "trash", "restore",
                                 "close", "close", "reopen"])
            if action == "close":  # across UTC midnights
                opp.closed_at = start + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            elif action == "reopen":
                opp.closed_at = None
            elif action == "move":
                opp.stage_id = rng.choice(stage_ids)
            elif action == "amount":
                opp.amount = rng.choice([Decimal("0.01"), Decimal("999999999999.99"), Decimal(rng.randint(0, 10**7)) / 100])
            elif action == "currency":
                opp.currency = rng.choice(["CNY", "USD", "JPY"])
            elif action == "override":
                opp.probability_override = rng.choice([None, 10, 90])
            elif action == "title":
                opp.title = f"Renamed {step}"
            elif action == "trash":
                opp.deleted_at = utcnow()
            else:
                opp.deleted_at = None
            db.session.commit()
        assert _table() == _fresh()
        assert _closed_table() == _fresh(by_day=True)
        assert _closed_table()  # some closes were counted

        # Plain SQL statements, as the bulk moves, trash batches and purges write them.
        db.session.execute(text("UPDATE opportunities SET stage_id = :s WHERE stage_id = :t"),
                           {"s": stage_ids[0], "t": stage_ids[1]})
        db.session.execute(text("UPDATE opportunities SET amount = amount - 1.25 WHERE id % 3 = 0 AND amount > 2"))
        db.session.execute(text("DELETE FROM opportunities WHERE id % 5 = 0"))
        db.session.commit()
        assert _table() == _fresh()
        assert _closed_table() == _fresh(by_day=True)

        # A recount from scratch gives the same tables.
        before, closed_before = _table(), _closed_table()
        with db.engine.begin() as conn:
            stage_totals.rebuild(conn)
        db.session.expire_all()
        assert _table() == before
        assert _closed_table() == closed_before


def test_board_columns_read_the_table(app, admin, admin_client):
    """The board's open columns show the table's totals, and agree with a filtered view
    (which adds the cards up itself)."""
    from crm.board.queries import BoardFilters, column_summaries, stages_of
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline)).scalars().first()
        stage = next(s for s in pipeline.stages if s.kind == "open")
        customer = Customer(name="Board Co", owner_id=admin.id, created_by_id=admin.id)
        db.session.add(customer)
        db.session.flush()
        for amount, override in ((Decimal("100.10"), None), (Decimal("50.05"), 33), (Decimal("0.01"), None)):
            db.session.add(Opportunity(title="x", customer_id=customer.id, pipeline_id=pipeline.id,
                                       stage_id=stage.id, owner_id=admin.id, amount=amount,
                                       currency="CNY", probability_override=override))
        db.session.commit()
        stages = stages_of(pipeline.id)
        from crm.models import User
        user = db.session.get(User, admin.id)
        everyone = column_summaries(stages, BoardFilters(), user)[stage.id]
        mine = column_summaries(stages, BoardFilters(owner=str(admin.id)), user)[stage.id]
        assert everyone.count == mine.count == 3
        assert everyone.by_currency["CNY"].amount == mine.by_currency["CNY"].amount == Decimal("150.16")
        assert everyone.by_currency["CNY"].weighted == mine.by_currency["CNY"].weighted


def test_opportunity_list_totals_from_the_table_equal_the_added_up_ones(app, admin, login, client):
    """/opportunities, unfiltered or by pipeline or stage, for someone who sees everything:
    count and totals from stage_totals, the same as adding the rows up."""
    from werkzeug.datastructures import MultiDict

    from crm.opportunities.forms import FilterForm
    from crm.opportunities.queries import list_totals, pipelines as _pipelines, table_totals
    rng = random.Random(5)
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline)).scalars().first()
        stages = list(pipeline.stages)
        customer = Customer(name="List Co", owner_id=admin.id, created_by_id=admin.id)
        db.session.add(customer)
        db.session.flush()
        for i in range(25):
            db.session.add(Opportunity(
                title=f"L{i}", customer_id=customer.id, pipeline_id=pipeline.id,
                stage_id=rng.choice(stages).id, owner_id=admin.id, status="open",
                amount=Decimal(rng.randint(1, 10**7)) / 100, currency=rng.choice(["CNY", "USD"]),
                probability_override=rng.choice([None, 15, 80])))
        stage_id = stages[1].id
        pipeline_id = pipeline.id
        db.session.commit()
    login(admin)
    with app.test_request_context():
        from flask_login import login_user

        from crm.models import User
        login_user(db.session.get(User, admin.id))
        pipelines = _pipelines()
        probabilities = {s.id: s.probability for p in pipelines for s in p.stages}
        for args in ({}, {"pipeline": str(pipeline_id)}, {"stage": str(stage_id)}):
            form = FilterForm(MultiDict(args))
            form.validate()
            f = {name: field.data for name, field in form._fields.items()}
            from_table = table_totals(f, pipelines)
            assert from_table is not None, args
            assert from_table == list_totals(f, probabilities), args
        form = FilterForm(MultiDict({"owner": "me"}))
        form.validate()
        assert table_totals({n: fl.data for n, fl in form._fields.items()}, pipelines) is None
    page = client.get("/opportunities").get_data(as_text=True)
    assert "25" in page


def test_closed_columns_from_the_tables_equal_the_cards_added_up(app, admin):
    """The won and lost columns (closed in the last 30 days) of an unfiltered board, read from
    closed_totals' whole days plus the first day's remainder, equal what adding up the cards
    gives, with closes on both sides of the cutoff, on its very day and at UTC midnights."""
    from crm.board.queries import BoardFilters, column_summaries, recent_cutoff, stages_of
    from crm.models import User
    now = datetime(2026, 11, 22, 9, 15, tzinfo=timezone.utc)
    cutoff = recent_cutoff(now)
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline)).scalars().first()
        closed = [s for s in pipeline.stages if s.kind != "open"]
        customer = Customer(name="Closed Co", owner_id=admin.id, created_by_id=admin.id)
        db.session.add(customer)
        db.session.flush()
        moments = [cutoff - timedelta(hours=1), cutoff - timedelta(seconds=1), cutoff,
                   cutoff + timedelta(seconds=1), cutoff + timedelta(hours=3),
                   datetime.combine(cutoff.date() + timedelta(days=1), datetime.min.time(), timezone.utc),
                   now - timedelta(days=10), now - timedelta(minutes=1), now - timedelta(days=45)]
        rng = random.Random(3)
        for i, moment in enumerate(moments * 2):
            stage = closed[i % len(closed)]
            db.session.add(Opportunity(
                title=f"C{i}", customer_id=customer.id, pipeline_id=pipeline.id, stage_id=stage.id,
                owner_id=admin.id, status=stage.kind, closed_at=moment, stage_entered_at=moment,
                amount=Decimal(rng.randint(1, 10**7)) / 100, currency=rng.choice(["CNY", "USD"]),
                probability_override=rng.choice([None, 40])))
        db.session.commit()
        stages = stages_of(pipeline.id)
        user = db.session.get(User, admin.id)
        from_tables = column_summaries(stages, BoardFilters(), user, now)
        added_up = column_summaries(stages, BoardFilters(owner=str(admin.id)), user, now)
        expected = {}
        for opp in db.session.execute(db.select(Opportunity)).scalars():
            if opp.closed_at >= cutoff:
                key = (opp.stage_id, opp.currency)
                count, amount = expected.get(key, (0, Decimal(0)))
                expected[key] = (count + 1, amount + opp.amount)
        for stage in closed:
            got = {(stage.id, c): (t.count, t.amount) for c, t in from_tables[stage.id].by_currency.items()}
            assert got == {k: v for k, v in expected.items() if k[0] == stage.id}
            assert from_tables[stage.id].count == added_up[stage.id].count
            assert {c: (t.count, t.amount, t.weighted) for c, t in from_tables[stage.id].by_currency.items()} \
                == {c: (t.count, t.amount, t.weighted) for c, t in added_up[stage.id].by_currency.items()}


def test_weighted_amounts_round_alike_and_exactly_everywhere(app, admin):
    """A row, the list's totals (from the table and added up) and the board's column give the
    same weighted figure: exact (integer cents, no floating point even for the largest amount
    on SQLite) and rounded half up to the cent (四舍五入) in all of them."""
    from flask_login import login_user
    from werkzeug.datastructures import MultiDict

    from crm.board.queries import BoardFilters, column_summaries, stages_of
    from crm.models import User
    from crm.opportunities.forms import FilterForm
    from crm.opportunities.queries import list_totals, pipelines as _pipelines, table_totals
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline)).scalars().first()
        stage = next(s for s in pipeline.stages if s.kind == "open")
        customer = Customer(name="Rounding Co", owner_id=admin.id, created_by_id=admin.id)
        db.session.add(customer)
        db.session.flush()
        cases = [("CNY", Decimal("0.05"), 50, Decimal("0.03")),       # 0.025: half up
                 ("USD", Decimal("999999999999.99"), 35, Decimal("349999999999.9965").quantize(
                     Decimal("0.01"), rounding="ROUND_HALF_UP")),  # floats lose the cents here
                 ("EUR", Decimal("0.15"), 50, Decimal("0.08"))]      # 0.075: half up, not to even
        for currency, amount, override, _ in cases:
            db.session.add(Opportunity(title=currency, customer_id=customer.id, pipeline_id=pipeline.id,
                                       stage_id=stage.id, owner_id=admin.id, amount=amount,
                                       currency=currency, probability_override=override))
        db.session.commit()
        pipeline_id, stage_id = pipeline.id, stage.id
        for currency, _, _, expected in cases:
            opp = db.session.execute(db.select(Opportunity).where(Opportunity.currency == currency)).scalar_one()
            assert opp.weighted_amount == expected, currency
    with app.test_request_context():
        user = db.session.get(User, admin.id)
        login_user(user)
        stages = stages_of(pipeline_id)
        board = column_summaries(stages, BoardFilters(), user)[stage_id].by_currency
        board_added_up = column_summaries(stages, BoardFilters(owner=str(admin.id)), user)[stage_id].by_currency
        pipelines = _pipelines()
        probabilities = {s.id: s.probability for p in pipelines for s in p.stages}
        form = FilterForm(MultiDict({}))
        form.validate()
        f = {name: field.data for name, field in form._fields.items()}
        from_table = {row["currency"]: row["weighted"] for row in table_totals(f, pipelines)}
        added_up = {row["currency"]: row["weighted"] for row in list_totals(f, probabilities)}
        for currency, _, _, expected in cases:
            assert board[currency].weighted == board_added_up[currency].weighted == expected, currency
            assert from_table[currency] == added_up[currency] == expected, currency
