"""Leads (线索): capture, nurture, score, qualify and convert (issue 11)."""
