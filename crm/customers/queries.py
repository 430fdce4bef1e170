"""Reads of customers: the list (its filter, search, tag plans, page and count), the values
its filters offer, possible duplicates, segments, and what each customer page shows (the
loader with its permission check, the tag picker, contacts, opportunities, tasks, timeline)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from flask import abort, g, has_request_context, url_for
from flask_login import current_user
from sqlalchemy import func, literal, or_
from sqlalchemy.orm import contains_eager, joinedload, selectinload
from werkzeug.datastructures import MultiDict

from crm.customers.duplicates import hidden_matches
from crm.customers.forms import ContactForm, SegmentForm
from crm.extensions import db
from crm.fields.forms import prepare, with_custom_fields
from crm.fields.queries import conditions as custom_conditions
from crm.fields.queries import locale_id
from crm.fields.queries import (filter_pairs, filter_widgets, list_cells, list_columns,
                                panel_context, sort_clauses, sort_field)
from crm.models import (Contact, Customer, CustomerLevel, Opportunity, Segment, Tag, TagGroup, User,
                        customer_tags)
from crm.notes.forms import NoteForm
from crm.notes.queries import timeline
from crm.permissions import (can_edit_customer, can_see_customer, can_set_owner, checked,
                             current_viewer, own_segments_clause, sees_everything,
                             visible_customers_clause, visible_opportunities_clause)
from crm.search import customer_terms_condition, query_terms
from crm.sharing.queries import RecordUsers
from crm.tasks.queries import open_and_done_tasks
from crm.validators import int_or_none, unique_field_ids

PER_PAGE = 25
COUNT_CAP = 1000  # the list counts its matches up to here, then says "1,000+"
SORTS = ("updated", "newest", "name")
DEFAULT_SORT = "updated"
MATCHES = ("any", "all")
# The customer page lists this many opportunities; "All N opportunities" leads to the rest.
OPPORTUNITIES_SHOWN = 20


# --- The customer list ------------------------------------------------------------------


@dataclass
class CustomerFilter:
    """What the customer list shows: the search box, the filters, the sort and the page.

    Read from a query string (`from_args`) and written back to one (`query_string`), so a
    filter can be bookmarked, pushed into the history and saved as a segment.
    """

    q: str = ""
    tag_ids: list[int] = field(default_factory=list)
    match: str = "any"
    owner: str = ""  # a user id, "none" for unassigned, "" for anyone
    industry: str = ""
    region: str = ""
    level: int | None = None  # a level's id (客户级别, crm/pools)
    sort: str = DEFAULT_SORT
    page: int = 1
    # Custom field filters (cf_<key>, cf_<key>_min, ...: crm.fields.queries.filter_pairs).
    custom: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "CustomerFilter":
        """Parse request.args (or any MultiDict); unknown or broken values fall back quietly."""
        tag_ids: list[int] = []
        for raw in args.getlist("tag"):
            tag_id = int_or_none(raw)
            if tag_id is not None and tag_id not in tag_ids:
                tag_ids.append(tag_id)
        owner = (args.get("owner") or "").strip()
        if owner != "none" and int_or_none(owner) is None:
            owner = ""
        match = args.get("match", "any")
        sort = args.get("sort", DEFAULT_SORT)
        if sort not in SORTS and sort_field("customer", sort) is None:
            sort = DEFAULT_SORT
        page = int_or_none(args.get("page")) or 1
        return cls(
            q=(args.get("q") or "").strip()[:200],
            tag_ids=tag_ids,
            match=match if match in MATCHES else "any",
            owner=owner,
            industry=(args.get("industry") or "").strip(),
            region=(args.get("region") or "").strip(),
            level=int_or_none(args.get("level")),
            sort=sort,
            page=max(page, 1),
            custom=filter_pairs("customer", args),
        )

    @classmethod
    def from_query_string(cls, query: str) -> "CustomerFilter":
        return cls.from_args(MultiDict(parse_qsl(query or "", keep_blank_values=False)))

    def pairs(self, *, page: int | None = None, with_page: bool = True) -> list[tuple[str, str]]:
        """The non-default parameters, in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs += [("tag", str(tag_id)) for tag_id in self.tag_ids]
        if self.tag_ids and self.match != "any":
            pairs.append(("match", self.match))
        for name in ("owner", "industry", "region"):
            if getattr(self, name):
                pairs.append((name, getattr(self, name)))
        if self.level is not None:
            pairs.append(("level", str(self.level)))
        pairs += self.custom
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        page = self.page if page is None else page
        if with_page and page > 1:
            pairs.append(("page", str(page)))
        return pairs

    def query_string(self, **kwargs) -> str:
        return urlencode(self.pairs(**kwargs))

    @property
    def segment_query(self) -> str:
        """What a segment stores: the filter without the page number."""
        return self.query_string(with_page=False)

    @property
    def custom_count(self) -> int:
        """How many custom fields the list is filtered on (a range's two ends count once,
        a multiple choice's any/all is not a filter of its own)."""
        names = {name.removesuffix("_min").removesuffix("_max").removesuffix("_currency")
                 for name, _value in self.custom if not name.endswith("_match")}
        return len(names)

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.tag_ids or self.owner or self.industry or self.region
                    or self.level is not None or self.custom)


def list_url(query: str = "") -> str:
    """The list's URL with a query string (CustomerFilter.query_string: the clean one)."""
    return url_for("customers.index") + (f"?{query}" if query else "")


def search_condition(q: str):
    """The customer search: every term of `q` must occur in the customer's search keys
    (pinyin included). The one search of customers by what a user types."""
    # '|' separates keys in the index: a term never spans two of them.
    terms = [term.replace("|", "") for term in query_terms(q)]
    terms = [term for term in terms if term]
    return customer_terms_condition(terms) if terms else []


COMMON_TAG = 2000  # customers a tag filter holds before it is checked row by row (EXISTS)


def _tag_is_common(tag_ids: list[int]) -> bool:
    """Whether the tags hold more than COMMON_TAG customers (reading at most that many
    index entries; asked once per request)."""
    cache = g.setdefault("_crm_common_tags", {}) if has_request_context() else {}
    key = tuple(sorted(tag_ids))
    if key not in cache:
        cache[key] = db.session.execute(db.select(func.count()).select_from(
            db.select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(tag_ids))
            .limit(COMMON_TAG + 1).subquery())).scalar_one() > COMMON_TAG
    return cache[key]


def tag_conditions(tag_ids: list[int], match: str) -> list:
    """Customers with any (match="any") or all of the tags.

    Two plans, chosen by how many customers the tags hold: a common tag is checked row by
    row as the list is read in its own order (EXISTS on the (customer_id, tag_id) key: the
    first page comes after a few hundred rows), a rarer one is read as the set of its
    customers (IN: a few thousand index entries instead of the whole list)."""
    if _tag_is_common(tag_ids):
        def has(ids):
            return db.exists().where(customer_tags.c.customer_id == Customer.id,
                                     customer_tags.c.tag_id.in_(ids))
        if match == "all":
            return [has([tag_id]) for tag_id in dict.fromkeys(tag_ids)]
        return [has(tag_ids)]
    tagged = db.select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(tag_ids))
    if match == "all":
        tagged = tagged.group_by(customer_tags.c.customer_id).having(
            func.count(func.distinct(customer_tags.c.tag_id)) == len(set(tag_ids)))
    return [Customer.id.in_(tagged)]


def filtered_select(filters: CustomerFilter, user=None, *, ids_only: bool = False):
    """The SELECT of the customers `filters` lets through, sorted, owners and tags preloaded;
    only those `user` (default: the signed-in user) may see. `ids_only`: their ids, unsorted."""
    stmt = db.select(Customer.id) if ids_only else db.select(Customer).options(
        joinedload(Customer.owner), joinedload(Customer.level),
        selectinload(Customer.tags).joinedload(Tag.group),
        joinedload(Customer.contacts),
    )
    user = user if user is not None else current_viewer()
    if not sees_everything(user):
        stmt = stmt.where(visible_customers_clause(user))
    for condition in search_condition(filters.q):
        stmt = stmt.where(condition)
    if filters.tag_ids:
        stmt = stmt.where(*tag_conditions(filters.tag_ids, filters.match))
    if filters.owner == "none":
        stmt = stmt.where(Customer.owner_id.is_(None))
    elif filters.owner:
        stmt = stmt.where(Customer.owner_id == int(filters.owner))
    if filters.industry:
        stmt = stmt.where(Customer.industry == filters.industry)
    if filters.region:
        stmt = stmt.where(Customer.region == filters.region)
    if filters.level is not None:
        stmt = stmt.where(Customer.level_id == filters.level)
    if filters.custom:
        stmt = stmt.where(*custom_conditions("customer", filters.custom, user))
    if ids_only:
        return stmt
    custom_sort = sort_clauses("customer", filters.sort, user)
    if custom_sort:
        stmt = stmt.order_by(*custom_sort)
    elif filters.sort == "name":
        stmt = stmt.order_by(func.lower(Customer.name), Customer.id)
    elif filters.sort == "newest":
        stmt = stmt.order_by(Customer.created_at.desc(), Customer.id.desc())
    else:
        stmt = stmt.order_by(Customer.updated_at.desc(), Customer.id.desc())
    return stmt


@dataclass
class CustomerPage:
    """One page of the list and how many match, counted up to COUNT_CAP (`capped` beyond)."""

    items: list
    page: int
    per_page: int
    total: int
    capped: bool = False
    has_next: bool = False

    @property
    def pages(self) -> int:
        pages = max(1, -(-self.total // self.per_page))
        return max(pages, self.page + 1) if self.has_next else max(pages, self.page)

    @property
    def pages_label(self) -> str:
        """"41+" when the count stopped at the cap."""
        return f"{self.pages}+" if self.capped else str(self.pages)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def customer_page(filters: CustomerFilter, per_page: int = PER_PAGE) -> CustomerPage:
    """One page of the filtered list and its count, in one statement: the count reads at
    most COUNT_CAP + 1 matches (a LIMITed subquery), so a search for a common word over
    100,000 customers stops early instead of reading them all a second time."""
    counted = db.select(func.count()).select_from(
        filtered_select(filters, ids_only=True).limit(COUNT_CAP + 1).subquery()).scalar_subquery()
    rows = db.session.execute(
        filtered_select(filters).add_columns(counted)
        .limit(per_page + 1).offset((filters.page - 1) * per_page)).unique().all()
    if not rows and filters.page > 1:
        # A bookmarked page past the end shows the last page rather than nothing.
        total = db.session.execute(db.select(func.count()).select_from(
            filtered_select(filters, ids_only=True).subquery())).scalar_one()
        if total:
            filters.page = max(1, -(-total // per_page))
            return customer_page(filters, per_page)
        return CustomerPage([], filters.page, per_page, 0)
    total = rows[0][1] if rows else 0
    has_next = len(rows) > per_page
    if not has_next and rows:
        # The last page: the exact number is known, whatever the cap.
        total = (filters.page - 1) * per_page + len(rows)
        return CustomerPage(items=[row[0] for row in rows], page=filters.page, per_page=per_page,
                            total=total)
    return CustomerPage(items=[row[0] for row in rows[:per_page]], page=filters.page,
                        per_page=per_page, total=min(total, COUNT_CAP), capped=total > COUNT_CAP,
                        has_next=has_next)


def distinct_values(column) -> list[str]:
    """The values used in a column (industry, region, source) of the customers I may see, for
    filters and suggestions."""
    stmt = db.select(column).where(column.is_not(None), column != "")
    viewer = current_viewer()
    if not sees_everything(viewer):
        stmt = stmt.where(visible_customers_clause(viewer))
    rows = db.session.execute(stmt.distinct().order_by(column)).scalars()
    return list(rows)


# A level (客户级别) as one text value, id|position|key|name, for the filter's options: read in
# the same statement as the industries and regions (the list's statement budget).
_LEVEL_ROW = ("CAST(id AS VARCHAR(20)) || '|' || CAST(position AS VARCHAR(20)) || '|' || "
              "COALESCE(\"key\", '') || '|' || COALESCE(name, '')")

_SKIP_SCAN = """
WITH RECURSIVE industries(value) AS (
    SELECT (SELECT min(industry) FROM customers WHERE industry > '' AND deleted_at IS NULL)
    UNION ALL
    SELECT (SELECT min(industry) FROM customers WHERE industry > industries.value AND deleted_at IS NULL)
    FROM industries WHERE industries.value IS NOT NULL
), regions(value) AS (
    SELECT (SELECT min(region) FROM customers WHERE region > '' AND deleted_at IS NULL)
    UNION ALL
    SELECT (SELECT min(region) FROM customers WHERE region > regions.value AND deleted_at IS NULL)
    FROM regions WHERE regions.value IS NOT NULL
)
SELECT 'industry', value FROM industries WHERE value IS NOT NULL
UNION ALL
SELECT 'region', value FROM regions WHERE value IS NOT NULL
UNION ALL
SELECT 'level', """ + _LEVEL_ROW + """ FROM customer_levels
"""


def industries_regions_and_levels() -> tuple[list[str], list[str], list[CustomerLevel]]:
    """The industries and regions in use (outside the trash), sorted, and the customer levels
    in their order, for the list's filters (the levels are detached copies, to read).

    One statement that hops from value to value along the indexes on industry and region
    (a loose index scan: one index probe per distinct value, written as a recursive CTE
    since neither database does it for SELECT DISTINCT), instead of reading 100,000 rows.
    """
    viewer = current_viewer()
    if sees_everything(viewer):
        stmt = db.text(_SKIP_SCAN)
    else:
        # Only the customers I may see (owned or shared: few, found through their indexes).
        def used(column, name):
            return db.select(literal(name).label("kind"), column.label("value")).where(
                column.is_not(None), column != "", Customer.deleted_at.is_(None),
                visible_customers_clause(viewer)).distinct()
        levels = db.select(literal("level").label("kind"), db.literal_column(_LEVEL_ROW).label("value")
                           ).select_from(CustomerLevel.__table__)
        both = db.union_all(used(Customer.industry, "industry"), used(Customer.region, "region"),
                            levels).subquery()
        stmt = db.select(both.c.kind, both.c.value).order_by(both.c.kind, both.c.value)
    industries: list[str] = []
    regions: list[str] = []
    levels: list[CustomerLevel] = []
    for column, value in db.session.execute(stmt):
        if column == "level":
            level_id, position, key, name = value.split("|", 3)
            levels.append(CustomerLevel(id=int(level_id), position=int(position),
                                        key=key or None, name=name or None))
        else:
            (industries if column == "industry" else regions).append(value)
    levels.sort(key=lambda level: (level.position, level.id))
    return industries, regions, levels


def tag_groups_with_tags() -> list[TagGroup]:
    """Every tag group with its tags, in one query."""
    return list(db.session.execute(
        db.select(TagGroup).options(joinedload(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name)
    ).unique().scalars())


def owner_choices(include_id: int | None = None) -> list[User]:
    """Active users (and `include_id` even when deactivated, so it is not lost on save)."""
    condition = User.active.is_(True)
    if include_id is not None:
        condition = or_(condition, User.id == include_id)
    return list(db.session.execute(db.select(User).where(condition).order_by(User.name)).scalars())


def customers_for_bulk(customer_ids: list[int], viewer) -> list[Customer]:
    """The selected customers `viewer` may see, with their tags (and the tags' groups), in two
    queries. An id of one they may not see is left out like an id that exists nowhere."""
    if not customer_ids:
        return []
    return list(db.session.execute(
        db.select(Customer).where(Customer.id.in_(customer_ids), visible_customers_clause(viewer))
        .options(selectinload(Customer.tags).joinedload(Tag.group))
    ).scalars())


def my_segments(user) -> list[Segment]:
    """The segments `user` saved, by name."""
    return list(db.session.execute(
        db.select(Segment).where(own_segments_clause(user)).order_by(func.lower(Segment.name))
    ).scalars())


def results_context(filters: CustomerFilter, **extra) -> dict:
    """The list's results block: one page of customers, the tag groups of the bulk-tag
    controls and the segment form for this filter."""
    pagination = customer_page(filters)
    segment_form = extra.pop("segment_form", None) or SegmentForm(
        formdata=None, query=filters.segment_query)
    # Nothing I may see matches my search: does a customer I may not see? (查重)
    hidden = (hidden_matches(search_condition(filters.q))
              if filters.q and not pagination.items and pagination.page == 1 else [])
    # Custom fields shown as columns: their texts ride on the rows (no query).
    columns = list_columns("customer")
    cells = list_cells("customer", pagination.items, columns)
    labels = [column.label(locale_id()) for column in columns]
    for customer in pagination.items:
        customer.cf_cells = list(zip(labels, cells.get(customer.id, [])))
    return {
        "filters": filters,
        "pagination": pagination,
        "customers": pagination.items,
        "hidden_matches": hidden,
        "tag_groups": tag_groups_with_tags(),
        "segment_form": segment_form,
        "page_url": lambda page: list_url(filters.query_string(page=page)),
        "cf_columns": columns,
        "cf_sort_url": lambda sort: list_url(urlencode(
            [pair for pair in filters.pairs(with_page=False) if pair[0] != "sort"] + [("sort", sort)])),
        **extra,
    }


def list_context(filters: CustomerFilter, **extra) -> dict:
    """The whole list page: the results and what the filters offer."""
    context = results_context(filters, **extra)
    industries, regions, levels = industries_regions_and_levels()
    context.update(
        cf_filters=filter_widgets("customer", filters.custom),
        owners=owner_choices(),
        industries=industries,
        regions=regions,
        levels=levels,
        segments=my_segments(current_user),
    )
    return context


# --- The customer form ------------------------------------------------------------------


def allowed_owners(customer: Customer | None = None) -> list[User]:
    """The owners the signed-in user may choose: anyone for managers; for sales themselves
    (on a new or unowned record) and the current owner, who stays."""
    return [user for user in owner_choices(include_id=customer.owner_id if customer else None)
            if can_set_owner(current_user, customer, user.id)]


def form_context(form, customer=None, duplicates=None) -> dict:
    """The customer form's page: the form and the values its fields suggest (a new
    customer's form, NewCustomerForm, holds the tag groups it offers)."""
    return {
        "form": form,
        "customer": customer,
        "duplicates": duplicates or [],
        "industries": distinct_values(Customer.industry),
        "regions": distinct_values(Customer.region),
        "sources": distinct_values(Customer.source),
    }


# --- The customer page -----------------------------------------------------------------------


def customer_or_404(customer_id: int, *, edit: bool = False) -> Customer:
    """The customer with its owner, creator and contacts (a customer's handful, joined: one
    query), after the permission check every page, fragment and POST makes: 404 when it does
    not exist, 403 when I may not see it (or, `edit`, not change it). Its tags come with the
    tag picker (tags_context)."""
    customer = db.session.execute(
        db.select(Customer).where(Customer.id == customer_id).options(
            joinedload(Customer.owner), joinedload(Customer.created_by),
            joinedload(Customer.contacts))
    ).unique().scalar_one_or_none()
    return checked(customer, can_see_customer, can_edit_customer, edit=edit)


def contact_or_404(customer: Customer, contact_id: int) -> Contact:
    """One of the customer's contacts (404 for any other id)."""
    contact = db.get_or_404(Contact, contact_id)
    if contact.customer_id != customer.id:
        abort(404)
    return contact


def tag_picker(customer: Customer) -> tuple[list[TagGroup], list[Tag]]:
    """Every tag group with its tags (the picker), and which of them the customer has, in
    one query: the groups and tags (the workspace's, a configuration) with a LEFT JOIN on the
    customer's customer_tags rows (by their primary key). The customer's tags come in the
    picker's order: by group, then by name."""
    rows = db.session.execute(
        db.select(TagGroup, Tag, customer_tags.c.tag_id)
        .outerjoin(TagGroup.tags)
        .outerjoin(customer_tags, db.and_(customer_tags.c.customer_id == customer.id,
                                          customer_tags.c.tag_id == Tag.id))
        .options(contains_eager(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name, Tag.name)
    ).unique().all()
    groups = list(dict.fromkeys(group for group, _tag, _on in rows))
    return groups, [tag for _group, tag, on in rows if on is not None]


def tags_by_group(tags: list[Tag]) -> list[tuple[TagGroup, list[Tag]]]:
    """A customer's tags grouped by their group, groups in their admin-defined order."""
    groups: dict[int, tuple[TagGroup, list[Tag]]] = {}
    for tag in tags:
        groups.setdefault(tag.group_id, (tag.group, []))[1].append(tag)
    return sorted(groups.values(), key=lambda item: (item[0].position, item[0].name))


def tags_context(customer: Customer, *, picker_open: bool = False, saved: dict | None = None) -> dict:
    """The page's tags block: the customer's tags by group and the picker; `saved`: what the
    picker just changed (tag, action, the tags it replaced), shown with an Undo."""
    tag_groups, tags = tag_picker(customer)
    return {
        "customer": customer,
        "can_edit": can_edit_customer(current_user, customer),
        "grouped_tags": tags_by_group(tags),
        "customer_tag_ids": {tag.id for tag in tags},
        "tag_groups": tag_groups,
        "picker_open": picker_open,
        "saved": saved,
    }


def _blank_contact_form():
    """The add-contact form, with the contacts' custom inputs (crm.fields.forms)."""
    form = with_custom_fields(ContactForm, "contact")(formdata=None)
    prepare(form)
    return form


def contacts_context(customer: Customer, contact_form=None, **extra) -> dict:
    """The page's contacts block, with the add-contact form (`contact_form`: a refused one)."""
    return {
        "customer": customer,
        "can_edit": can_edit_customer(current_user, customer),
        "contact_form": unique_field_ids(contact_form or _blank_contact_form(), "new-contact-"),
        **extra,
    }


def opportunity_rows(customer: Customer) -> tuple[list[Opportunity], int]:
    """The first OPPORTUNITIES_SHOWN of the customer's opportunities I may see (open ones
    first, then the most recent) and, in the same statement, how many there are (an
    uncorrelated count, run once): a big account's page stays short and costs no extra
    statement. (A count(*) OVER () took 3x as long at 100,000.)"""
    visible = (Opportunity.customer_id == customer.id, visible_opportunities_clause(current_user))
    total = db.select(db.func.count()).select_from(Opportunity).where(*visible).correlate(None)
    rows = db.session.execute(
        db.select(Opportunity, total.scalar_subquery()).where(*visible)
        .options(joinedload(Opportunity.stage), joinedload(Opportunity.owner))
        .order_by(Opportunity.status != "open", Opportunity.created_at.desc(), Opportunity.id.desc())
        .limit(OPPORTUNITIES_SHOWN)
    ).all()
    return [opportunity for opportunity, _total in rows], (rows[0][1] if rows else 0)


def page_context(customer: Customer, **overrides) -> dict:
    """Everything the customer page shows; `overrides` replace parts of it (a refused form
    with what was typed and its errors, say)."""
    opportunities, opportunities_total = opportunity_rows(customer)
    # The task panel's open tasks and the timeline's done ones in one query.
    panel_tasks, done_tasks = open_and_done_tasks(customer_id=customer.id)
    context = {
        **tags_context(customer),
        **contacts_context(customer),
        "timeline_items": timeline(customer_id=customer.id, done_tasks=done_tasks),
        "next_contact": customer.next_contact_at,
        "note_form": NoteForm(formdata=None, customer_id=customer.id),
        "opportunities": opportunities,
        "opportunities_total": opportunities_total,
        "panel_customer_id": customer.id,
        "panel_opportunity_id": None,
        "panel_tasks": panel_tasks,
        # One users query for the sharing panel and the task panel's assignees.
        "record_users": RecordUsers("customer", customer),
        "custom_panel": panel_context("customer", customer, can_edit_customer(current_user, customer)),
    }
    context.update(overrides)
    return context
