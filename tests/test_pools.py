"""The public pool (公海, issue 11 part 4 and issue 18): claim with its caps, daily limit and
cool-down; release; transfer; the owner history; the reclaim rules with injected time (per
level, exemptions, locks, warnings); races in threads (on SQLite and PostgreSQL); the admin's
pools and levels, with bad input refused and nothing changed."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import (AuditEntry, Customer, CustomerLevel, Lead, OwnerChange, Pool, Task, User,
                        utcnow)
from crm.pools import services, sweep
from crm.pools.queries import mask_email, mask_phone, pool_page, soon_rows
from crm.rules import RuleError
from tests import factories

DAY = timedelta(days=1)


@pytest.fixture
def pools(app_ctx):
    from crm.pipelines.services import ensure_defaults
    ensure_defaults()
    services.ensure_defaults()
    db.session.commit()
    customer_pool = db.session.execute(select(Pool).where(Pool.kind == "customer")).scalar_one()
    lead_pool = db.session.execute(select(Pool).where(Pool.kind == "lead")).scalar_one()
    return customer_pool, lead_pool


@pytest.fixture
def people(app_ctx):
    ada = factories.user("sales", name="Ada")
    bob = factories.user("sales", name="Bob")
    mia = factories.user("manager", name="Mia")
    return ada, bob, mia


def _history(kind, record_id):
    return db.session.execute(select(OwnerChange.how, OwnerChange.from_user_id, OwnerChange.to_user_id,
                                     OwnerChange.rule)
                              .where(OwnerChange.record_kind == kind, OwnerChange.record_id == record_id)
                              .order_by(OwnerChange.id)).all()


def _keep(pool):
    """The pool's values as they are (to change only its members or caps)."""
    from crm.pools.forms import POOL_VALUES
    return {name: getattr(pool, name) for name in POOL_VALUES}


def _pool_customer(name="星辰科技", **fields):
    return factories.customer(None, name=name, **fields)


# --- claim ---------------------------------------------------------------------------------------

def test_claim_takes_an_unowned_customer_and_records_it(pools, people):
    ada, _bob, _mia = people
    customer = _pool_customer()
    services.claim(ada, customer)
    db.session.commit()
    assert customer.owner_id == ada.id and customer.pool_id == pools[0].id
    assert customer.owner_since is not None
    assert _history("customer", customer.id) == [("claimed", None, ada.id, None)]
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.entity == "customers",
                                                        AuditEntry.field == "owner_id")).scalar_one()
    assert audit.new_value == "Ada"


def test_claim_of_a_claimed_record_names_who_has_it(pools, people):
    ada, bob, _mia = people
    customer = _pool_customer()
    services.claim(ada, customer)
    db.session.commit()
    with pytest.raises(services.ClaimTaken) as refused:
        services.claim(bob, customer)
    assert refused.value.owner_name == "Ada"
    db.session.rollback()


def test_ownership_cap_per_pool_role_and_user(pools, people):
    ada, bob, _mia = people
    pool = pools[0]
    pool.own_cap = 5
    services.save_pool(pool, _keep(pool), member_users=[], member_roles=[], role_caps={"sales": (1, None)},
                       level_days={})
    db.session.commit()
    first, second = _pool_customer("一"), _pool_customer("二")
    services.claim(ada, first)
    db.session.commit()
    with pytest.raises(RuleError, match="at most 1"):
        services.claim(ada, second)
    db.session.rollback()
    services.set_user_limit(pool, ada, 2, None)  # a user's own cap wins over the role's
    db.session.commit()
    services.claim(ada, second)
    db.session.commit()
    assert second.owner_id == ada.id


def test_won_customers_count_towards_the_cap_unless_the_pool_says_not(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    pool.own_cap = 1
    won = factories.customer(ada, name="赢单")
    factories.opportunity(won, ada, stage="signed", history=False)
    target = _pool_customer("新")
    db.session.commit()
    with pytest.raises(RuleError, match="Ownership cap"):
        services.claim(ada, target)
    db.session.rollback()
    pool.won_count_towards_cap = False
    db.session.commit()
    services.claim(ada, target)
    db.session.commit()
    assert target.owner_id == ada.id


def test_daily_claim_limit_names_the_limit(pools, people):
    ada, _bob, _mia = people
    pools[0].daily_claims = 2
    db.session.commit()
    records = [_pool_customer(f"客户{i}") for i in range(3)]
    now = utcnow()
    for record in records[:2]:
        services.claim(ada, record, now=now, day_start=now - timedelta(hours=1))
    db.session.commit()
    with pytest.raises(RuleError, match="2 a day"):
        services.claim(ada, records[2], now=now, day_start=now - timedelta(hours=1))
    db.session.rollback()
    # The next day (injected), the limit starts again.
    services.claim(ada, records[2], now=now + DAY, day_start=now + timedelta(hours=20))
    db.session.commit()
    assert records[2].owner_id == ada.id


def test_cool_down_after_release(pools, people):
    ada, bob, _mia = people
    pools[0].cooldown_days = 7
    customer = factories.customer(ada)
    now = utcnow()
    services.release(ada, customer, "没有需求", now=now)
    db.session.commit()
    with pytest.raises(RuleError, match="cool-down"):
        services.claim(ada, customer, now=now + 6 * DAY)
    db.session.rollback()
    services.claim(bob, customer, now=now + DAY)  # others may
    db.session.commit()
    services.release(bob, customer, "换人", now=now + 2 * DAY)
    db.session.commit()
    services.claim(ada, customer, now=now + 8 * DAY)
    db.session.commit()
    assert customer.owner_id == ada.id


def test_members_only(pools, people):
    ada, bob, _mia = people
    pool = pools[0]
    services.save_pool(pool, _keep(pool), member_users=[bob], member_roles=[], role_caps={}, level_days={})
    db.session.commit()
    customer = _pool_customer()
    with pytest.raises(RuleError, match="not a member"):
        services.claim(ada, customer)
    db.session.rollback()
    services.claim(bob, customer)
    db.session.commit()


# --- release and transfer ------------------------------------------------------------------------

def test_release_needs_a_reason_and_makes_the_record_nobodys(pools, people):
    ada, _bob, _mia = people
    customer = factories.customer(ada, created_by=ada)
    with pytest.raises(RuleError) as refused:
        services.release(ada, customer, "  ")
    assert refused.value.field == "reason"
    services.release(ada, customer, "联系不上")
    db.session.commit()
    assert customer.owner_id is None and customer.pool_id == pools[0].id
    # Released: no longer the creator's own (crm.permissions.owns).
    from crm.permissions import can_edit_customer
    assert not can_edit_customer(ada, customer)
    assert _history("customer", customer.id)[-1][:3] == ("released", ada.id, None)


def test_transfer_many_with_a_note(pools, people):
    ada, bob, mia = people
    owned = factories.customer(ada, name="甲")
    unowned = _pool_customer("乙")
    count = services.transfer(mia, [owned, unowned], bob, "客户要求换人")
    db.session.commit()
    assert count == 2 and owned.owner_id == bob.id and unowned.owner_id == bob.id
    hows = [row[0] for row in _history("customer", owned.id)] + [row[0] for row in _history("customer", unowned.id)]
    assert hows == ["transferred", "assigned"]
    reasons = set(db.session.execute(select(OwnerChange.reason)).scalars())
    assert reasons == {"客户要求换人"}
    with pytest.raises(RuleError):
        services.transfer(ada, [owned], ada)


def test_an_orm_owner_change_is_in_the_history(pools, people):
    ada, bob, _mia = people
    lead = Lead(name="王芳", owner_id=ada.id, status="new", bant={}, custom={}, score_parts=[])
    db.session.add(lead)
    db.session.commit()
    lead.owner_id = bob.id
    db.session.commit()
    assert _history("lead", lead.id) == [("transferred", ada.id, bob.id, None)]
    assert lead.owner_since is not None


# --- the reclaim rules, time injected -----------------------------------------------------------

def _aged(customer, days, now):
    customer.owner_since = now - timedelta(days=days)
    db.session.commit()


def test_no_followup_rule_returns_after_its_days(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 0
    now = utcnow()
    quiet = factories.customer(ada, name="沉默")
    followed = factories.customer(ada, name="跟进")
    _aged(quiet, 31, now)
    _aged(followed, 31, now)
    factories.note(ada, followed, happened_at=now - 5 * DAY)
    result = sweep.sweep(now)
    db.session.commit()
    db.session.expire_all()
    assert result.returned == 1
    assert quiet.owner_id is None and followed.owner_id == ada.id
    assert _history("customer", quiet.id)[-1] == ("returned", ada.id, None, "no_followup")
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.entity_id == quiet.id,
                                                        AuditEntry.field == "owner_id")).scalar_one()
    assert audit.old_value == "Ada" and "no_followup 30d" in audit.new_value


def test_counted_from_the_day_received(pools, people):
    """An old note does not matter; a record received 10 days ago is not returned at 30."""
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 0
    now = utcnow()
    customer = factories.customer(ada)
    _aged(customer, 10, now)
    assert sweep.sweep(now).returned == 0
    assert sweep.sweep(now + 21 * DAY).returned == 1


def test_per_level_days(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    levels = {lv.key: lv for lv in db.session.execute(select(CustomerLevel)).scalars()}
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 0
    pool.level_days = {"no_followup": {str(levels["a"].id): 60, str(levels["c"].id): 15}}
    now = utcnow()
    key = factories.customer(ada, name="A", level_id=levels["a"].id)
    low = factories.customer(ada, name="C", level_id=levels["c"].id)
    plain = factories.customer(ada, name="none")
    for customer in (key, low, plain):
        _aged(customer, 20, now)
    result = sweep.sweep(now)
    db.session.expire_all()
    assert result.returned == 1 and low.owner_id is None and key.owner_id == ada.id
    assert sweep.sweep(now + 11 * DAY).returned == 1   # plain: 31 days
    assert sweep.sweep(now + 41 * DAY).returned == 1   # key: 61 days


def test_opportunity_rules_and_exemptions(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_open_opportunity_on, pool.no_open_opportunity_days = True, 20
    pool.not_won_on, pool.not_won_days, pool.warn_days = True, 40, 0
    pool.exempt_won, pool.exempt_open_opportunity = True, True
    now = utcnow()
    bare = factories.customer(ada, name="无商机")
    busy = factories.customer(ada, name="有商机")
    won = factories.customer(ada, name="赢单")
    factories.opportunity(busy, ada, history=False)
    factories.opportunity(won, ada, stage="signed", history=False)
    for customer in (bare, busy, won):
        _aged(customer, 50, now)
    sweep.sweep(now)
    db.session.expire_all()
    assert bare.owner_id is None and busy.owner_id == ada.id and won.owner_id == ada.id
    assert _history("customer", bare.id)[-1][3] == "no_open_opportunity"
    pool.exempt_open_opportunity = False  # the open deal no longer shields it: not won for 40
    db.session.commit()
    sweep.sweep(now)
    db.session.expire_all()
    assert busy.owner_id is None and _history("customer", busy.id)[-1][3] == "not_won"


def test_a_locked_customer_is_passed_by(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 0
    now = utcnow()
    kept = factories.customer(ada, name="锁定")
    _aged(kept, 40, now)
    services.lock(ada, kept, now=now)
    db.session.commit()
    assert sweep.sweep(now).returned == 0
    services.unlock(ada, kept)
    db.session.commit()
    assert sweep.sweep(now).returned == 1
    entries = db.session.execute(select(AuditEntry.field).where(
        AuditEntry.entity_id == kept.id, AuditEntry.field == "locked_at")).scalars().all()
    assert len(entries) == 2  # lock and unlock are audited


def test_lock_cap_and_won_customers_need_no_lock(pools, people):
    ada, _bob, _mia = people
    pools[0].lock_cap = 1
    first, second = factories.customer(ada, name="一"), factories.customer(ada, name="二")
    won = factories.customer(ada, name="赢")
    factories.opportunity(won, ada, stage="signed", history=False)
    services.lock(ada, first)
    db.session.commit()
    with pytest.raises(RuleError, match="at most 1"):
        services.lock(ada, second)
    db.session.rollback()
    with pytest.raises(RuleError, match="needs no lock"):
        services.lock(ada, won)


def test_lead_rules(pools, people):
    ada, _bob, _mia = people
    lead_pool = pools[1]
    lead_pool.no_followup_on, lead_pool.no_followup_days, lead_pool.warn_days = True, 7, 0
    now = utcnow()
    quiet = Lead(name="沉默", owner_id=ada.id, status="new", bant={}, custom={}, score_parts=[],
                 owner_since=now - 8 * DAY)
    converted = Lead(name="已转化", owner_id=ada.id, status="converted", bant={}, custom={},
                     score_parts=[], owner_since=now - 8 * DAY)
    db.session.add_all([quiet, converted])
    db.session.commit()
    assert sweep.sweep(now).returned == 1
    db.session.expire_all()
    assert quiet.owner_id is None and converted.owner_id == ada.id


def test_warning_task_once_and_the_soon_list(pools, people):
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 3
    now = utcnow()
    customer = factories.customer(ada, name="快到期")
    _aged(customer, 28, now)
    first = sweep.sweep(now)
    second = sweep.sweep(now + timedelta(hours=1))
    db.session.commit()
    assert first.warned == 1 and second.warned == 0 and first.returned == 0
    task = db.session.execute(select(Task).where(Task.customer_id == customer.id)).scalar_one()
    assert task.assignee_id == ada.id and "3" in task.title
    assert [row[1] for row in soon_rows(ada, now=now)] == [customer.id]


def test_the_sweep_is_set_based(pools, people, app):
    """Statements per sweep do not grow with the rows: one return per rule and level."""
    ada, _bob, _mia = people
    pool = pools[0]
    pool.no_followup_on, pool.no_followup_days, pool.warn_days = True, 30, 3
    pool.not_won_on, pool.not_won_days = True, 60
    now = utcnow()
    counts = []
    for size in (3, 30):
        customers = factories.customers(size, ada, name=f"S{size}-{{n}}")
        for customer in customers:
            customer.owner_since = now - 90 * DAY
        db.session.commit()
        result = sweep.sweep(now)
        db.session.commit()
        assert result.returned == size
        counts.append(result.statements)
    assert counts[0] == counts[1]


# --- races (threads) -------------------------------------------------------------------------------

def _race(app, jobs):
    """Run each (user_id, customer_id, action) in its own thread and app context, at once."""
    barrier = threading.Barrier(len(jobs))
    outcomes, errors = [], []

    def run(user_id, record_id, action):
        try:
            with app.app_context():
                user = db.session.get(User, user_id)
                record = db.session.get(Customer, record_id)
                barrier.wait(timeout=10)
                try:
                    action(user, record)
                    db.session.commit()
                    outcomes.append(("ok", user_id))
                except RuleError as error:
                    db.session.rollback()
                    outcomes.append((type(error).__name__, str(error)))
                finally:
                    db.session.remove()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


def test_concurrent_claims_one_wins_the_other_is_told_who(app, pools, people):
    users = list(people[:2]) + [factories.user("sales", name=f"S{i}") for i in range(2)]
    customer = _pool_customer()
    ids = [u.id for u in users]
    names = {u.id: u.name for u in users}
    customer_id = customer.id
    db.session.remove()
    outcomes = _race(app, [(uid, customer_id, lambda u, r: services.claim(u, r)) for uid in ids])
    winners = [o for o in outcomes if o[0] == "ok"]
    assert len(winners) == 1
    winner = names[winners[0][1]]
    assert sorted(o[0] for o in outcomes if o[0] != "ok") == ["ClaimTaken"] * 3
    assert all(winner in o[1] for o in outcomes if o[0] == "ClaimTaken")
    assert db.session.execute(select(func.count()).select_from(OwnerChange)).scalar_one() == 1


def test_two_claims_at_the_daily_limit(app, pools, people):
    ada = people[0]
    pools[0].daily_claims = 1
    db.session.commit()
    first, second = _pool_customer("一"), _pool_customer("二")
    ada_id, ids = ada.id, [first.id, second.id]
    db.session.remove()
    outcomes = _race(app, [(ada_id, rid, lambda u, r: services.claim(u, r)) for rid in ids])
    assert sorted(o[0] for o in outcomes) == ["RuleError", "ok"]
    assert "1 a day" in [o[1] for o in outcomes if o[0] == "RuleError"][0]
    assert db.session.execute(select(func.count()).select_from(Customer)
                              .where(Customer.owner_id == ada_id)).scalar_one() == 1


def test_two_locks_at_the_lock_cap(app, pools, people):
    ada = people[0]
    pools[0].lock_cap = 1
    db.session.commit()
    first, second = factories.customer(ada, name="一"), factories.customer(ada, name="二")
    ada_id, ids = ada.id, [first.id, second.id]
    db.session.remove()
    outcomes = _race(app, [(ada_id, rid, lambda u, r: services.lock(u, r)) for rid in ids])
    assert sorted(o[0] for o in outcomes) == ["RuleError", "ok"]
    assert db.session.execute(select(func.count()).select_from(Customer)
                              .where(Customer.locked_at.is_not(None))).scalar_one() == 1


# --- the admin's pools and levels: bad input changes nothing --------------------------------------

def _pool_values(**overrides):
    values = {"name_zh": "公海", "name_en": "Pool", "enabled": True, "mask_contacts": False,
              "own_cap": None, "lock_cap": None, "daily_claims": None, "cooldown_days": 0,
              "won_count_towards_cap": True, "no_followup_on": True, "no_followup_days": 30,
              "no_open_opportunity_on": False, "no_open_opportunity_days": 60, "not_won_on": False,
              "not_won_days": 90, "exempt_won": True, "exempt_open_opportunity": False, "warn_days": 3}
    values.update(overrides)
    return values


@pytest.mark.parametrize("field,value", [("no_followup_days", -5), ("own_cap", 10**9),
                                         ("daily_claims", -1), ("cooldown_days", 10**9)])
def test_bad_numbers_are_refused(pools, field, value):
    pool = pools[0]
    with pytest.raises(RuleError) as refused:
        services.save_pool(pool, _pool_values(**{field: value}), member_users=[], member_roles=[],
                           role_caps={}, level_days={})
    assert refused.value.field == field
    db.session.rollback()
    assert db.session.get(Pool, pool.id).no_followup_days == 30


def test_a_level_in_use_cannot_go(pools, people):
    level = db.session.execute(select(CustomerLevel).where(CustomerLevel.key == "a")).scalar_one()
    factories.customer(people[0], level_id=level.id)
    with pytest.raises(RuleError, match="in use"):
        services.delete_level(level)
    db.session.rollback()
    assert db.session.get(CustomerLevel, level.id) is not None


def test_a_pool_holding_records_or_the_last_one_cannot_go(pools, people):
    pool = pools[0]
    _pool_customer()
    with pytest.raises(RuleError, match="holds 1"):
        services.delete_pool(pool)
    db.session.rollback()
    other = services.save_pool(None, _pool_values(kind="customer", name_en="Second"), member_users=[],
                               member_roles=[], role_caps={}, level_days={})
    db.session.commit()
    assert services.move_records(pool, other) == 1
    db.session.commit()
    services.delete_pool(pool)
    db.session.commit()
    with pytest.raises(RuleError):  # holds the moved record
        services.delete_pool(other)
    db.session.rollback()


def test_masking_and_the_pool_page(pools, people):
    ada = people[0]
    pools[0].mask_contacts = True
    db.session.commit()
    _pool_customer(phone="13800138000", email="wang@example.com")
    page = pool_page(ada, pools[0])
    assert page.total == 1 and page.rows[0].phone == "138****8000"
    assert mask_phone("13800138000") == "138****8000" and mask_email("wang@example.com") == "w***@example.com"


def test_a_disabled_pools_owned_records_go_back_to_the_first_enabled_one(pools, people):
    ada = people[0]
    first = pools[0]
    second = services.save_pool(None, _pool_values(kind="customer", name_en="Second"), member_users=[],
                                member_roles=[], role_caps={}, level_days={})
    db.session.commit()
    customer = factories.customer(ada, pool_id=second.id)
    services.save_pool(second, {**_keep(second), "enabled": False}, member_users=[], member_roles=[],
                       role_caps={}, level_days={})
    db.session.commit()
    services.release(ada, customer, "不需要了")
    db.session.commit()
    assert customer.pool_id == first.id
    assert pool_page(ada, first).total == 1
