"""Customers (客户) and their contacts: the list, the form, the page."""
