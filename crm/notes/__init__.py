"""Notes (跟进记录): the follow-ups on a customer's or an opportunity's timeline."""
