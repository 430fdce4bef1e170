"""Fill a database with a benchmark workspace: 100,000 customers, 300,000 opportunities,
1,000,000 notes, 200,000 tasks, 200,000 leads with 400,000 follow-up notes (times --scale;
--leads N sets the leads alone, --leads 0 leaves them out), in Chinese and English.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python bench/generate.py
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench python bench/generate.py
    python bench/generate.py --scale 0.01 --database-url sqlite:////tmp/small.sqlite3

The target database must be empty (or pass --drop to empty it first). The schema is the
models' (create_all), stamped at the newest migration so that `gunicorn -c gunicorn.conf.py`
(which runs the migrations on start) finds nothing to do; --migrations builds it with the
migrations instead. Rows go in with SQLAlchemy Core executemany of dict batches; on
PostgreSQL the large tables go in with COPY. Indexes (and PostgreSQL's foreign keys) are
created after the load unless --index-first is given; that is faster (see --help and
docs/benchmarks.md).

Faker is used once, to build pools of names, companies and sentences; rows combine pool
entries with a seeded random generator, so the same seed gives the same rows (dates are
relative to today). The search keys (crm.search.search_keys) of Chinese names are
computed from the pinyin of their parts, precomputed once per part.

Every generated user has the password BENCH_PASSWORD; the admin is BENCH_ADMIN.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_ADMIN = "admin@bench.local"
BENCH_PASSWORD = "bench-pass-2024"
DEFAULT_SEED = 4242
BATCH = 10_000

FULL = {"customers": 100_000, "opportunities": 300_000, "notes": 1_000_000, "tasks": 200_000,
        "leads": 200_000}
LEAD_NOTES_PER_LEAD = 2  # on average: 0 to 4
# Behaviour tags (线索行为标签) and the intent score's rules of the benchmark workspace.
BEHAVIOUR_TAGS = [("参加演示", "#0f766e", 20), ("询价", "#b45309", 15), ("下载白皮书", "#1d4ed8", 5),
                  ("Visited pricing page", "#7c3aed", 10)]
LEAD_STATUSES = ["new"] * 3 + ["contacted"] * 3 + ["nurturing"] * 3 + ["qualified", "disqualified"]
USERS = 20


# --- pools -------------------------------------------------------------------------------

@dataclass
class ZhText:
    """A Chinese text with its search keys' pinyin parts (full and initials)."""
    text: str
    full: str
    initials: str


def _zh(text: str) -> ZhText:
    from crm.search import pinyin_keys
    keys = pinyin_keys(text)
    full, initials = (keys + ["", ""])[:2] if keys else ("", "")
    return ZhText(text, full, initials)


def _join(*parts: ZhText) -> ZhText:
    return ZhText("".join(p.text for p in parts), "".join(p.full for p in parts),
                  "".join(p.initials for p in parts))


class Pools:
    """Everything Faker makes, made once."""

    def __init__(self, seed: int):
        from faker import Faker

        from crm.demo.content import EN_TITLES, ZH_TITLES

        zh = Faker("zh_CN")
        en = Faker("en_US")
        zh.seed_instance(seed)
        en.seed_instance(seed)
        self.zh_cities = [_zh(c) for c in sorted({zh.city_name() for _ in range(400)})]
        self.zh_prefixes = [_zh(p) for p in sorted({zh.company_prefix() for _ in range(2000)})]
        self.zh_suffixes = [_zh(s) for s in sorted({zh.company_suffix() for _ in range(300)})]
        self.zh_provinces = sorted({zh.province() for _ in range(300)})
        self.zh_people = [_zh(n) for n in sorted({zh.name() for _ in range(2500)})]
        self.zh_addresses = [zh.street_address() for _ in range(500)]
        self.zh_titles = ZH_TITLES
        self.en_companies = sorted({en.company() for _ in range(2500)})
        self.en_people = sorted({en.name() for _ in range(4000)})
        self.en_states = sorted({en.state() for _ in range(300)})
        self.en_cities = sorted({en.city() for _ in range(600)})
        self.en_addresses = [en.street_address() for _ in range(500)]
        self.en_titles = EN_TITLES
        self.note_bodies = ([zh.paragraph(nb_sentences=3) for _ in range(400)]
                            + [en.paragraph(nb_sentences=3) for _ in range(400)])
        self.needs = ([zh.sentence(nb_words=12) for _ in range(100)]
                      + [en.sentence(nb_words=12) for _ in range(100)])
        self.task_titles = (["回访客户", "发送报价单", "确认需求", "安排演示", "催收款项", "准备合同",
                             "约见决策人", "整理会议纪要"]
                            + ["Call back", "Send the quote", "Confirm the requirements",
                               "Schedule a demo", "Chase the invoice", "Draft the contract",
                               "Meet the decision maker", "Write up the meeting"])
        self.products = ["CRM 实施", "ERP 升级", "云服务器", "数据平台", "年度维保", "培训服务",
                         "Cloud migration", "Support plan", "Data platform", "Licences",
                         "Consulting", "Hardware refresh"]


ZH_INDUSTRIES = ["软件", "制造业", "物流", "医疗", "零售", "金融", "教育", "传媒", "能源", "通信"]
EN_INDUSTRIES = ["Software", "Manufacturing", "Logistics", "Healthcare", "Retail", "Finance",
                 "Education", "Media", "Energy", "Telecom"]
ZH_SOURCES = ["官网", "展会", "转介绍", "百度推广", "电话营销", "微信"]
EN_SOURCES = ["Website", "Trade show", "Referral", "Cold call", "LinkedIn", "Partner"]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
NOTE_KINDS = ["call", "call", "call", "visit", "email", "email", "meeting", "note", "other"]
# Share of opportunities per default stage key.
STAGE_WEIGHTS = {"discover": 20, "confirm": 15, "needs_analysis": 12, "proposal": 10,
                 "negotiation": 8, "signed": 12, "delivered": 8, "lost": 15}
CURRENCIES = ["CNY"] * 17 + ["USD"] * 2 + ["EUR"]


# --- schema ------------------------------------------------------------------------------

def _is_empty(conn) -> bool:
    from sqlalchemy import inspect, text
    tables = set(inspect(conn).get_table_names())
    if "customers" not in tables and "users" not in tables:
        return True
    for name in ("users", "customers"):
        if name in tables and conn.execute(text(f"SELECT 1 FROM {name} LIMIT 1")).first():
            return False
    return True


def _drop_everything(conn) -> None:
    from sqlalchemy import text

    from crm.extensions import db
    db.metadata.drop_all(conn)
    conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def create_schema(conn, *, index_first: bool) -> list:
    """Create the tables; return what to create after the load (indexes, PostgreSQL FKs)."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    from crm.extensions import db

    postgres = conn.dialect.name == "postgresql"
    later = []
    for table in db.metadata.sorted_tables:
        if index_first or not postgres:
            conn.execute(CreateTable(table))
        else:
            conn.execute(CreateTable(table, include_foreign_key_constraints=[]))
            later += [("fk", fk) for fk in table.foreign_key_constraints]
        for index in table.indexes:
            if index_first:
                conn.execute(CreateIndex(index))
            else:
                later.append(("ix", index))
    if index_first:
        from crm import search as search_index, stage_totals
        search_index.install(conn, populate=False)  # the triggers index every row as it comes
        stage_totals.install(conn, populate=False)  # and count every opportunity as it comes
    return later


def create_later(conn, later: list) -> None:
    from sqlalchemy.schema import AddConstraint, CreateIndex

    from crm import search as search_index, stage_totals
    for kind, item in later:
        conn.execute(CreateIndex(item) if kind == "ix" else AddConstraint(item))
    search_index.install(conn, populate=True)  # the trigram index, filled in one pass
    stage_totals.install(conn, populate=True)  # the board's totals, counted in one pass


# --- loading -----------------------------------------------------------------------------

class Loader:
    """Insert rows given as tuples, in batches.

    SQLite: the insert() of the listed columns, compiled once, run with executemany of
    tuples whose values are already in the form SQLAlchemy's bind processors would give
    (see Generator: text datetimes, floats for Numeric). Going through the typed Table with
    dicts costs ~25 us a row in bind processing, four times the insert itself.
    PostgreSQL: COPY (psycopg's cursor.copy) for the tables in `copy_tables`, Core
    executemany of dict batches through the typed Table for the others (--no-copy).
    """

    def __init__(self, conn, copy_tables: set[str]):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.copy_tables = copy_tables if self.postgres else set()
        self.counts: dict[str, int] = {}

    def load(self, table, columns: tuple[str, ...], rows) -> int:
        columns, rows = _with_scalar_defaults(table, columns, rows)
        if table.name in self.copy_tables:
            n = self._copy(table, columns, rows)
        elif self.postgres:
            n = self._executemany_dicts(table, columns, rows)
        else:
            n = self._executemany_tuples(table, columns, rows)
        self.counts[table.name] = self.counts.get(table.name, 0) + n
        return n

    def _batches(self, rows):
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _executemany_tuples(self, table, columns, rows) -> int:
        from sqlalchemy import column, insert
        from sqlalchemy import table as table_clause

        statement = insert(table_clause(table.name, *[column(c) for c in columns]))
        sql = str(statement.compile(dialect=self.conn.dialect))
        n = 0
        for batch in self._batches(rows):
            self.conn.exec_driver_sql(sql, batch)
            n += len(batch)
        return n

    def _executemany_dicts(self, table, columns, rows) -> int:
        insert = table.insert()
        n = 0
        for batch in self._batches(rows):
            self.conn.execute(insert, [dict(zip(columns, row)) for row in batch])
            n += len(batch)
        return n

    def _copy(self, table, columns, rows) -> int:
        raw = self.conn.connection.dbapi_connection
        cols = ", ".join(f'"{c}"' for c in columns)
        n = 0
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
                    n += 1
        return n


def _with_scalar_defaults(table, columns, rows):
    """Add the columns this script does not set that have a constant Python-side default
    (e.g. a version = 1 or a nullable flag added later), since neither COPY nor a plain
    executemany applies SQLAlchemy's defaults."""
    extra = [c for c in table.columns if c.name not in columns and c.default is not None
             and getattr(c.default, "is_scalar", False)]
    if not extra:
        return columns, rows
    values = tuple(c.default.arg for c in extra)
    return tuple(columns) + tuple(c.name for c in extra), (tuple(row) + values for row in rows)


class Generator:
    def __init__(self, pools: Pools, seed: int, scale: float, now: datetime, sqlite: bool,
                 leads: int | None = None):
        self.p = pools
        self.rng = random.Random(seed)
        self.now = now  # naive UTC, whole seconds
        self.today = now.date()
        self.n = {k: max(1, int(round(v * scale))) for k, v in FULL.items()}
        if leads is not None:
            self.n["leads"] = leads
        if sqlite:
            self.ts = lambda d: d.isoformat(" ") + ".000000"
            self.money = float
            self.day = date.isoformat
        else:
            self.ts = self.day = lambda v: v
            self.money = Decimal
        # Filled while generating; used by later tables.
        self.cust_owner: list[int] = [0]
        self.cust_name: list[str] = [""]
        self.cust_age: list[int] = [0]
        self.cust_contact: list[int | None] = [None]
        self.opp_customer: list[int] = [0]
        self.opp_contact: list[int | None] = [None]

    # users, tags, stages come from the ORM (small) ------------------------------------------

    def users(self, session) -> list[int]:
        from werkzeug.security import generate_password_hash

        from crm.models import User

        password_hash = generate_password_hash(BENCH_PASSWORD)
        people = [("Bench Admin", "admin", "en"), ("王经理", "manager", "zh_CN"),
                  ("Morgan Manager", "manager", "en")]
        rng = self.rng
        while len(people) < USERS:
            if len(people) % 2:
                people.append((rng.choice(self.p.zh_people).text, "sales", "zh_CN"))
            else:
                people.append((rng.choice(self.p.en_people), "sales", "en"))
        users = []
        for i, (name, role, language) in enumerate(people):
            email = BENCH_ADMIN if i == 0 else f"user{i}@bench.local"
            users.append(User(email=email, name=name, role=role, language=language,
                              timezone="Asia/Shanghai", active=True, password_hash=password_hash,
                              created_at=self.now - timedelta(days=1200)))
        session.add_all(users)
        session.flush()
        self.user_ids = [u.id for u in users]
        self.sales_ids = [u.id for u in users if u.role == "sales"]
        return self.user_ids

    def tags(self, session) -> None:
        from crm.demo.content import TAG_GROUPS
        from crm.models import Tag, TagGroup

        self.tag_groups: list[tuple[bool, list[int]]] = []
        for position, (name, multiple, tags) in enumerate(TAG_GROUPS):
            group = TagGroup(name=name, multiple=multiple, position=position)
            group.tags = [Tag(name=tag_name, color=color) for _key, tag_name, color in tags]
            session.add(group)
            session.flush()
            self.tag_groups.append((multiple, [t.id for t in group.tags]))

    def lead_lists(self, session) -> None:
        """Lead sources (the built-in list), a behaviour tag group and the scoring rules."""
        from crm.extensions import db
        from crm.leads.services import ensure_defaults
        from crm.models import LeadSource, ScoringRule, Tag, TagGroup

        ensure_defaults()
        self.lead_sources = list(session.execute(db.select(LeadSource.id)).scalars())
        group = TagGroup(name="线索行为 Behaviour", multiple=True, position=len(self.tag_groups),
                         kind="behaviour")
        group.tags = [Tag(name=name, color=color) for name, color, _points in BEHAVIOUR_TAGS]
        session.add(group)
        session.flush()
        self.behaviour_tags = [t.id for t in group.tags]
        session.add(ScoringRule(kind="base", points=20))
        session.add_all(ScoringRule(kind="tag", tag_id=tag.id, points=points)
                        for tag, (_n, _c, points) in zip(group.tags, BEHAVIOUR_TAGS))
        session.add_all([ScoringRule(kind="note_kind", note_kind="visit", points=10),
                         ScoringRule(kind="note_kind", note_kind="meeting", points=5),
                         ScoringRule(kind="silence", days=30, points=10)])

    def stages(self, session) -> None:
        from crm.extensions import db
        from crm.models import LostReason, Pipeline, Stage

        pipeline = session.execute(db.select(Pipeline).order_by(Pipeline.position)).scalars().first()
        stages = session.execute(db.select(Stage).where(Stage.pipeline_id == pipeline.id)
                                 .order_by(Stage.position)).scalars().all()
        self.pipeline_id = pipeline.id
        self.first_stage = stages[0].id
        self.stage_kind = {s.id: s.kind for s in stages}
        weights = [STAGE_WEIGHTS.get(s.key or "", 5) for s in stages]
        self.stage_cum = list(_cumulative(weights))
        self.stage_list = [s.id for s in stages]
        self.lost_reasons = list(session.execute(db.select(LostReason.id)).scalars())

    # the bulk tables -------------------------------------------------------------------------
    # Values go out in the form the database driver takes as is: on SQLite the text
    # SQLAlchemy stores for a datetime ("2024-05-01 08:00:00.000000", naive UTC) and a
    # date, floats for Numeric; on PostgreSQL naive UTC datetimes (the session's TimeZone
    # is UTC while loading), dates and Decimals. self.ts and self.money do that.

    CUSTOMER_COLS = ("id", "kind", "name", "industry", "region", "city", "size", "source", "phone",
                     "email", "website", "address", "description", "owner_id", "created_by_id",
                     "search_index", "created_at", "updated_at")
    CONTACT_COLS = ("id", "customer_id", "name", "title", "phone", "email", "is_primary",
                    "created_at")
    TAG_COLS = ("customer_id", "tag_id")

    def customers(self):
        """Yields ("customers", row), ("contacts", row), ("customer_tags", row) in id order."""
        from crm.search import normalise

        p, now, ts = self.p, self.now, self.ts
        rnd = self.rng.random
        sales = self.sales_ids
        contact_id = 0
        span = 3 * 365 * 86400
        for cid in range(1, self.n["customers"] + 1):
            zh = rnd() < 0.6
            owner = _ch(rnd, sales) if rnd() < 0.92 else None
            age = int(rnd() * span)
            created = now - timedelta(seconds=age)
            updated = created + timedelta(seconds=int(rnd() * age))
            n_contacts = 1 if rnd() < 0.5 else 2
            individual = rnd() < 0.05
            if zh:
                if individual:
                    name_z = _ch(rnd, p.zh_people)
                    domain = f"{name_z.full}{cid}.cn"
                else:
                    prefix = _ch(rnd, p.zh_prefixes)
                    name_z = _join(_ch(rnd, p.zh_cities), prefix, _ch(rnd, p.zh_suffixes))
                    domain = f"{prefix.full}{cid % 997}.com.cn"
                name = name_z.text
                keys = [normalise(name), name_z.full, name_z.initials]
                phone = f"0{10 + int(rnd() * 989)}-{10_000_000 + int(rnd() * 89_999_999)}"
                email = f"info@{domain}"
                industry, region = _ch(rnd, ZH_INDUSTRIES), _ch(rnd, p.zh_provinces)
                city, address = _ch(rnd, p.zh_cities).text, _ch(rnd, p.zh_addresses)
                source = _ch(rnd, ZH_SOURCES)
            else:
                name = _ch(rnd, p.en_people) if individual else _ch(rnd, p.en_companies)
                keys = [normalise(name)]
                slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
                domain = f"{slug}{cid % 997}.com"
                phone = f"+1 {200 + int(rnd() * 799)}-555-{1000 + int(rnd() * 8999)}"
                email = f"hello@{domain}"
                industry, region = _ch(rnd, EN_INDUSTRIES), _ch(rnd, p.en_states)
                city, address = _ch(rnd, p.en_cities), _ch(rnd, p.en_addresses)
                source = _ch(rnd, EN_SOURCES)
            keys += [normalise(phone), email]
            first_contact = contact_id + 1
            contacts = []
            created_ts = ts(created)
            for i in range(n_contacts):
                contact_id += 1
                if zh:
                    person = _ch(rnd, p.zh_people)
                    cname, ckeys = person.text, [person.text, person.full, person.initials]
                    cphone = f"1{_ch(rnd, '3589')}{100_000_000 + int(rnd() * 899_999_999)}"
                    cemail = f"{person.full}{contact_id % 100}@{domain}"
                    title = _ch(rnd, p.zh_titles)
                else:
                    cname = _ch(rnd, p.en_people)
                    ckeys = [normalise(cname)]
                    cphone = f"+1 {200 + int(rnd() * 799)}-555-{1000 + int(rnd() * 8999)}"
                    cemail = f"{cname.split()[0].lower()}{contact_id % 100}@{domain}"
                    title = _ch(rnd, p.en_titles)
                keys += ckeys + [normalise(cphone), cemail]
                contacts.append((contact_id, cid, cname, title, cphone, cemail, i == 0, created_ts))
            yield "customers", (
                cid, "individual" if individual else "company", name, industry, region, city,
                None if individual else _ch(rnd, SIZES), source, phone, email,
                None if individual else f"https://www.{domain}", address, None, owner, owner,
                "|".join(k for k in keys if k), created_ts, ts(updated))
            for row in contacts:
                yield "contacts", row
            for multiple, tag_ids in self.tag_groups:
                if multiple:
                    for tag_id in self.rng.sample(tag_ids, _ch(rnd, (0, 0, 1, 1, 2))):
                        yield "customer_tags", (cid, tag_id)
                elif rnd() < 0.6:
                    yield "customer_tags", (cid, _ch(rnd, tag_ids))
            self.cust_owner.append(owner or _ch(rnd, sales))
            self.cust_name.append(name)
            self.cust_age.append(age)
            self.cust_contact.append(first_contact)

    OPP_COLS = ("id", "title", "customer_id", "contact_id", "pipeline_id", "stage_id", "amount",
                "currency", "expected_close", "probability_override", "owner_id", "source", "needs",
                "budget", "description", "status", "closed_at", "lost_reason_id", "lost_note",
                "stage_entered_at", "last_activity_at", "created_by_id", "created_at", "updated_at",
                "version")
    CHANGE_COLS = ("id", "opportunity_id", "from_stage_id", "to_stage_id", "user_id", "changed_at")

    def opportunities(self):
        p, now, ts, money, day = self.p, self.now, self.ts, self.money, self.day
        rnd = self.rng.random
        n_customers = self.n["customers"]
        sales, first = self.sales_ids, self.first_stage
        sources = ZH_SOURCES + EN_SOURCES
        close_days = [self.today + timedelta(days=d) for d in range(-300, 300)]
        change_id = 0
        for oid in range(1, self.n["opportunities"] + 1):
            cid = 1 + int(rnd() * n_customers)
            stage = self.stage_list[_pick(rnd, self.stage_cum)]
            kind = self.stage_kind[stage]
            owner = self.cust_owner[cid] if rnd() < 0.85 else _ch(rnd, sales)
            c_age = self.cust_age[cid]
            o_age = int(rnd() * c_age)
            created = now - timedelta(seconds=o_age)
            entered = now - timedelta(seconds=int(rnd() * o_age))
            created_ts, entered_ts = ts(created), ts(entered)
            contact = self.cust_contact[cid] if rnd() < 0.7 else None
            hundreds = 10 + int(rnd() * 19_990)
            yield "opportunities", (
                oid, f"{_ch(rnd, p.products)} · {self.cust_name[cid][:40]}", cid, contact,
                self.pipeline_id, stage, money(hundreds * 100), _ch(rnd, CURRENCIES),
                day(_ch(rnd, close_days)) if rnd() < 0.9 else None,
                5 * (1 + int(rnd() * 19)) if rnd() < 0.1 else None, owner, _ch(rnd, sources),
                _ch(rnd, p.needs) if rnd() < 0.3 else None,
                money((hundreds + int(rnd() * 500)) * 100) if rnd() < 0.3 else None,
                None, kind, entered_ts if kind != "open" else None,
                _ch(rnd, self.lost_reasons) if kind == "lost" else None, None,
                entered_ts, entered_ts, owner, created_ts, entered_ts, 1 if stage == first else 2)
            change_id += 1
            yield "stage_changes", (change_id, oid, None, first, owner, created_ts)
            if stage != first:
                change_id += 1
                yield "stage_changes", (change_id, oid, first, stage, owner, entered_ts)
            self.opp_customer.append(cid)
            self.opp_contact.append(contact)

    NOTE_COLS = ("id", "kind", "body", "happened_at", "author_id", "customer_id", "contact_id",
                 "opportunity_id", "created_at", "updated_at")

    def notes(self):
        p, now, ts = self.p, self.now, self.ts
        rnd = self.rng.random
        n_customers, n_opps = self.n["customers"], self.n["opportunities"]
        users, bodies, kinds = self.user_ids, p.note_bodies, NOTE_KINDS
        opp_customer, opp_contact, cust_contact = self.opp_customer, self.opp_contact, self.cust_contact
        span = 2 * 365 * 86400
        for nid in range(1, self.n["notes"] + 1):
            if rnd() < 0.45:
                oid = 1 + int(rnd() * n_opps)
                cid, contact = opp_customer[oid], opp_contact[oid]
            else:
                oid = None
                cid = 1 + int(rnd() * n_customers)
                contact = cust_contact[cid] if rnd() < 0.5 else None
            when = ts(now - timedelta(seconds=int(rnd() * span)))
            yield (nid, _ch(rnd, kinds), _ch(rnd, bodies), when, _ch(rnd, users), cid, contact,
                   oid, when, when)

    TASK_COLS = ("id", "title", "due_at", "assignee_id", "opportunity_id", "customer_id", "stage_id",
                 "done", "done_at", "created_by_id", "created_at")

    def tasks(self):
        p, now, ts = self.p, self.now, self.ts
        rnd = self.rng.random
        n_customers, n_opps = self.n["customers"], self.n["opportunities"]
        for tid in range(1, self.n["tasks"] + 1):
            if rnd() < 0.5:
                oid = 1 + int(rnd() * n_opps)
                cid = self.opp_customer[oid]
            else:
                oid, cid = None, 1 + int(rnd() * n_customers)
            due = now + timedelta(hours=int(rnd() * 120 * 24) - 60 * 24)
            created = due - timedelta(hours=1 + int(rnd() * 30 * 24))
            done = (due < now and rnd() < 0.8) or rnd() < 0.1
            assignee = _ch(rnd, self.user_ids)
            yield (tid, _ch(rnd, p.task_titles), ts(due) if rnd() < 0.95 else None, assignee,
                   oid, cid, None, done, ts(min(due, now)) if done else None, assignee, ts(created))


    LEAD_COLS = ("id", "name", "company", "title", "phone", "mobile", "email", "wechat", "region",
                 "address", "source_id", "owner_id", "created_by_id", "status", "score",
                 "score_parts", "bant", "last_contact_at", "search_index", "custom",
                 "created_at", "updated_at")
    LEAD_TAG_COLS = ("lead_id", "tag_id")
    LEAD_NOTE_COLS = ("id", "kind", "body", "happened_at", "author_id", "lead_id", "created_at",
                      "updated_at")

    def leads(self):
        """Yields ("leads", row), ("lead_tags", row), ("notes", row): each lead with its
        behaviour tags and 0 to 4 follow-up notes (ids after the customers' notes). The
        scores are left at 0: the real recompute (crm.leads.scoring) fills them after."""
        from crm.search import normalise

        p, now, ts = self.p, self.now, self.ts
        rnd = self.rng.random
        sales = self.sales_ids
        span = 365 * 86400
        note_id = self.n["notes"]
        bodies, kinds = p.note_bodies, NOTE_KINDS
        for lid in range(1, self.n["leads"] + 1):
            zh = rnd() < 0.7
            owner = _ch(rnd, sales) if rnd() < 0.85 else None
            age = int(rnd() * span)
            created = now - timedelta(seconds=age)
            if zh:
                person = _ch(rnd, p.zh_people)
                prefix = _ch(rnd, p.zh_prefixes)
                company = _join(_ch(rnd, p.zh_cities), prefix, _ch(rnd, p.zh_suffixes))
                name = person.text
                mobile = f"1{30 + int(rnd() * 59)}{10_000_000 + int(rnd() * 89_999_999)}"
                email = f"{person.full}{lid % 1000}@{prefix.full}{lid % 97}.cn"
                keys = [normalise(name), person.full, person.initials, normalise(company.text),
                        company.full, company.initials]
                company_name, title = company.text, _ch(rnd, p.zh_titles)
                region, address = _ch(rnd, p.zh_provinces), _ch(rnd, p.zh_addresses)
            else:
                name = _ch(rnd, p.en_people)
                company_name = _ch(rnd, p.en_companies)
                mobile = f"+1 {200 + int(rnd() * 799)}-555-{1000 + int(rnd() * 8999)}"
                email = f"{name.split()[0].lower()}{lid % 1000}@example.com"
                keys = [normalise(name), normalise(company_name)]
                title = _ch(rnd, p.en_titles)
                region, address = _ch(rnd, p.en_states), _ch(rnd, p.en_addresses)
            keys += [normalise(mobile), "".join(ch for ch in mobile if ch.isdigit()), email]
            n_notes = int(rnd() * (2 * LEAD_NOTES_PER_LEAD + 1))
            last = None
            notes = []
            for _ in range(n_notes):
                note_id += 1
                when = created + timedelta(seconds=int(rnd() * max(age, 1)))
                last = when if last is None or when > last else last
                notes.append((note_id, _ch(rnd, kinds), _ch(rnd, bodies), ts(when),
                              owner or _ch(rnd, sales), lid, ts(when), ts(when)))
            status = _ch(rnd, LEAD_STATUSES)
            if status == "new" and notes:
                status = "contacted"
            yield "leads", (
                lid, name, company_name, title, None, mobile, email, None, region, address,
                _ch(rnd, self.lead_sources), owner, owner or _ch(rnd, sales), status, 0, "[]",
                "{}", ts(last) if last else None, "|".join(k for k in keys if k), "{}",
                ts(created), ts(last or created))
            for tag_id in self.rng.sample(self.behaviour_tags, _ch(rnd, (0, 0, 0, 1, 1, 2))):
                yield "lead_tags", (lid, tag_id)
            for row in notes:
                yield "notes", row


def _ch(rnd, seq):
    """random.choice, without its overhead."""
    return seq[int(rnd() * len(seq))]


def _cumulative(weights):
    total = 0
    for w in weights:
        total += w
        yield total


def _pick(rnd, cumulative: list[int]) -> int:
    x = rnd() * cumulative[-1]
    for i, c in enumerate(cumulative):
        if x < c:
            return i
    return len(cumulative) - 1


def _route(stream, loader: Loader, tables: dict, columns: dict, timings: dict):
    """Send a stream of (table name, row) to per-table batches; flush when a batch fills."""
    batches: dict[str, list] = {name: [] for name in columns}
    for name, row in stream:
        batch = batches[name]
        batch.append(row)
        if len(batch) >= BATCH:
            started = time.perf_counter()
            loader.load(tables[name], columns[name], batch)
            timings[f"  insert {name}"] = timings.get(f"  insert {name}", 0.0) + time.perf_counter() - started
            batches[name] = []
    for name, batch in batches.items():
        if batch:
            started = time.perf_counter()
            loader.load(tables[name], columns[name], batch)
            timings[f"  insert {name}"] = timings.get(f"  insert {name}", 0.0) + time.perf_counter() - started


def check_search_keys(sample: list[tuple[str, list[str]]]) -> float:
    """Share of sampled names whose precomputed keys differ from search_keys()."""
    from crm.search import search_keys
    bad = sum(1 for text, keys in sample if search_keys(text) != "|".join(k for k in keys if k))
    return bad / max(len(sample), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="SQLAlchemy URL (default: $DATABASE_URL)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--drop", action="store_true", help="empty the database first")
    parser.add_argument("--index-first", action="store_true",
                        help="create indexes (and PostgreSQL FKs) before loading (slower)")
    parser.add_argument("--migrations", action="store_true",
                        help="build the schema with the migrations (implies --index-first)")
    parser.add_argument("--no-copy", action="store_true",
                        help="PostgreSQL: Core executemany for every table, no COPY")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE at the end")
    parser.add_argument("--leads", type=int, default=None,
                        help="how many leads (default 200,000 x --scale; 0: none)")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    index_first = args.index_first or args.migrations

    from sqlalchemy import text

    from crm import create_app
    from crm.config import normalise_database_url
    from crm.extensions import db

    url = normalise_database_url(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    started_all = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name, started):
        timings[name] = time.perf_counter() - started

    with app.app_context():
        t = time.perf_counter()
        pools = Pools(args.seed)
        step("faker pools", t)
        engine = db.engine
        postgres = engine.dialect.name == "postgresql"
        with engine.begin() as conn:
            if not _is_empty(conn):
                if not args.drop:
                    print("The database is not empty; pass --drop to empty it.", file=sys.stderr)
                    return 2
            _drop_everything(conn)
        t = time.perf_counter()
        later = []
        if args.migrations:
            from flask_migrate import upgrade
            upgrade()
        else:
            with engine.begin() as conn:
                later = create_schema(conn, index_first=index_first)
            from flask_migrate import stamp
            stamp()
        step("schema", t)

        now = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
        gen = Generator(pools, args.seed, args.scale, now, sqlite=not postgres, leads=args.leads)
        from crm.pipelines.services import ensure_defaults
        t = time.perf_counter()
        ensure_defaults()
        gen.users(db.session)
        gen.tags(db.session)
        gen.stages(db.session)
        gen.lead_lists(db.session)
        db.session.commit()
        step("users, tags, stages", t)

        tables = db.metadata.tables
        copy_tables = set() if args.no_copy else {"customers", "notes", "opportunities", "stage_changes", "tasks",
                                                  "contacts", "customer_tags", "leads", "lead_tags"}
        with engine.begin() as conn:
            if not postgres:
                for pragma in ("synchronous=OFF", "foreign_keys=OFF", "cache_size=-262144",
                               "temp_store=MEMORY"):
                    conn.exec_driver_sql(f"PRAGMA {pragma}")
            else:
                conn.exec_driver_sql("SET TIME ZONE 'UTC'")
            loader = Loader(conn, copy_tables)
            cols = {"customers": gen.CUSTOMER_COLS, "contacts": gen.CONTACT_COLS,
                    "customer_tags": gen.TAG_COLS}
            t = time.perf_counter()
            _route(gen.customers(), loader, tables, cols, timings)
            step("customers+contacts+tags (generate and insert)", t)
            cols = {"opportunities": gen.OPP_COLS, "stage_changes": gen.CHANGE_COLS}
            t = time.perf_counter()
            _route(gen.opportunities(), loader, tables, cols, timings)
            step("opportunities+stage_changes (generate and insert)", t)
            t = time.perf_counter()
            loader.load(tables["notes"], gen.NOTE_COLS, gen.notes())
            step("notes (generate and insert)", t)
            t = time.perf_counter()
            loader.load(tables["tasks"], gen.TASK_COLS, gen.tasks())
            step("tasks (generate and insert)", t)
            if gen.n["leads"]:
                cols = {"leads": gen.LEAD_COLS, "lead_tags": gen.LEAD_TAG_COLS,
                        "notes": gen.LEAD_NOTE_COLS}
                t = time.perf_counter()
                _route(gen.leads(), loader, tables, cols, timings)
                step("leads+lead tags+lead notes (generate and insert)", t)
            if postgres:
                for name in ("customers", "contacts", "opportunities", "stage_changes", "notes", "tasks",
                             "leads"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
            if later:
                t = time.perf_counter()
                create_later(conn, later)
                step("indexes and foreign keys after the load", t)
            if not postgres:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        if not args.no_analyze:
            t = time.perf_counter()
            if postgres:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    # VACUUM as well: it sets the visibility map, as autovacuum soon would on a
                    # live database, so that index-only scans read no table pages.
                    conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                with engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            step("VACUUM ANALYZE" if postgres else "ANALYZE", t)
        if gen.n["leads"]:
            # The intent scores, by the application's own recompute (what the rescore-leads
            # job runs after a rule change): timed, see bench/leads.py for the measure.
            from crm.leads.scoring import recompute
            t = time.perf_counter()
            recompute(now=now.replace(tzinfo=timezone.utc))
            db.session.commit()
            step("lead scores (crm.leads.scoring.recompute)", t)
        if not postgres:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = dict(loader.counts)
        sample_rng = random.Random(args.seed)
        sample = []
        for _ in range(300):
            parts = (sample_rng.choice(pools.zh_cities), sample_rng.choice(pools.zh_prefixes),
                     sample_rng.choice(pools.zh_suffixes))
            z = _join(*parts)
            sample.append((z.text, [z.text.lower(), z.full, z.initials]))
        mismatch = check_search_keys(sample)
        engine.dispose()

    total = time.perf_counter() - started_all
    print(f"Database: {engine.url.render_as_string(hide_password=True)}  scale {args.scale}  "
          f"seed {args.seed}  indexes {'first' if index_first else 'after the load'}")
    print(f"{'step / table':<52} {'seconds':>8}")
    for name, seconds in timings.items():
        print(f"{name:<52} {seconds:8.1f}")
    print(f"{'TOTAL':<52} {total:8.1f}")
    print("Rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"Search keys of combined Chinese names differing from search_keys(): {mismatch:.1%}")
    print(f"Log in as {BENCH_ADMIN} / {BENCH_PASSWORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
