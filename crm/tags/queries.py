"""Reads of tag groups and tags: the groups in their order with their tags, how many customers
carry each tag and group, what the /tags page and the merge form show. Each in a constant
number of queries, whatever the number of customers or tags."""
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.models import Customer, Tag, TagGroup, customer_tags


def groups_with_tags() -> list[TagGroup]:
    """Every group in display order, with its tags loaded (two queries)."""
    return list(db.session.execute(
        select(TagGroup).options(selectinload(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name)
    ).scalars())


def tag_customer_counts(tag_ids=None) -> dict[int, int]:
    """How many customers carry each tag, in one grouped query (tags with none are absent).
    The join to customers lets the trash filter leave out customers in the trash."""
    query = (select(customer_tags.c.tag_id, func.count())
             .join(Customer, Customer.id == customer_tags.c.customer_id)
             .group_by(customer_tags.c.tag_id))
    if tag_ids is not None:
        tag_ids = list(tag_ids)
        if not tag_ids:
            return {}
        query = query.where(customer_tags.c.tag_id.in_(tag_ids))
    return {tag_id: count for tag_id, count in db.session.execute(query)}


def group_customer_counts() -> dict[int, int]:
    """How many distinct customers carry at least one tag of each group (one query)."""
    query = (select(Tag.group_id, func.count(func.distinct(customer_tags.c.customer_id)))
             .join(customer_tags, customer_tags.c.tag_id == Tag.id)
             .join(Customer, Customer.id == customer_tags.c.customer_id)
             .group_by(Tag.group_id))
    return {group_id: count for group_id, count in db.session.execute(query)}


def customers_with_tag(tag: Tag) -> int:
    return tag_customer_counts([tag.id]).get(tag.id, 0)


def customers_in_group(group: TagGroup) -> int:
    """Distinct customers that carry any tag of the group."""
    return db.session.execute(
        select(func.count(func.distinct(customer_tags.c.customer_id)))
        .join(Tag, Tag.id == customer_tags.c.tag_id)
        .join(Customer, Customer.id == customer_tags.c.customer_id)
        .where(Tag.group_id == group.id)
    ).scalar_one()


def customers_with_several_tags_of(group: TagGroup) -> int:
    """Customers carrying two or more tags of the group (they block making it single-choice)."""
    per_customer = (select(customer_tags.c.customer_id)
                    .join(Tag, Tag.id == customer_tags.c.tag_id)
                    .where(Tag.group_id == group.id)
                    .group_by(customer_tags.c.customer_id)
                    .having(func.count() > 1)).subquery()
    return db.session.execute(select(func.count()).select_from(per_customer)).scalar_one()


def page_context() -> dict:
    """What the /tags page and its fragments show, in four queries: the groups with their
    tags, the customers carrying each tag and each group (the forms are the route's)."""
    groups = groups_with_tags()
    return {
        "groups": groups,
        "counts": tag_customer_counts(),
        "group_counts": group_customer_counts(),
        "first_id": groups[0].id if groups else None,
        "last_id": groups[-1].id if groups else None,
    }


def merge_choices(source: Tag) -> dict[str, list[tuple[int, str]]]:
    """The other tags, by group name, for the merge select."""
    choices = {}
    for group in groups_with_tags():
        options = [(t.id, t.name) for t in group.tags if t.id != source.id]
        if options:
            choices[group.name] = options
    return choices
