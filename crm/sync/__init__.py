"""Bringing a CRM's pipelines, companies, deals and buyers in: the first sync ("bring in deals",
paged and resumable: crm.sync.run) and the continuous one (deals the CRM creates later, by
webhook or reconciliation: crm.sync.continuous). Each CRM's reads live in its adapter
(crm/adapters/<crm>_sync.py, mixed into each adapter); what they read is
written through crm.sync.apply into the same services as everything else."""
