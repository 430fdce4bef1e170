"""Opportunities (商机): list, form, page, and the stage-change route everyone uses."""
