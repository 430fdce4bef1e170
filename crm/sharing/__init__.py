"""Owner and sharing of a customer or an opportunity: the small panel on the record's page.

The owner, managers and admins share a record with other users (a share lets them see and
edit it); managers and admins give it to another owner; a salesperson takes an unowned record
they may edit. Its routes (crm.sharing.routes, blueprint `sharing`):

    POST /customers/<id>/shares                    user_id: share with this user
    POST /customers/<id>/shares/<user_id>/delete   stop sharing with this user (404 if not shared)
    POST /customers/<id>/owner                     owner_id: reassign (or take)

and the same under /opportunities. htmx callers get the panel back (a share) or are sent to
the page again (an owner change alters what the page offers); others get a 303 to the page,
or when refused the page itself (422) with the error beside the select it concerns.
The rules are those of crm.permissions: 403 when the user may not see the record, or may see
but not share / reassign it; 404 when it does not exist.
"""
