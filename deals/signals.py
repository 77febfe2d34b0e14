"""Signals the deal services send after a change has been committed.

The CRM write-back listens here instead of being imported by deals. Follow-ups do not: the deal
services call followups.services inside the close's transaction, so a refused follow-up undoes it.
"""

from django.dispatch import Signal

# Sent on commit after a deal was closed or its missing reason was given.
# Keyword arguments: deal_id, closure_id, via_crm (True when a CRM made the change).
deal_closed = Signal()

# Sent inside the close's transaction once its rows are written (same arguments): a listener
# that records work caused by the close (the CRM write-back's outbox row) commits with it.
deal_closing = Signal()

# Sent inside a reopen's transaction once the deal is open again (deal_reopen). Keyword
# arguments: deal_id, closure_id (the closure reopened), reopened_at, via_crm. The CRM
# write-back listens: a reopen made here is sent to the CRM with the reopen, or not at all.
deal_reopening = Signal()
