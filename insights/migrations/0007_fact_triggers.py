"""PostgreSQL functions and triggers that keep DealFact and Rollup current.

- `insights_facts_compute(ids)`: what each of those deals adds to the figures now (closed deals
  and deals ever lost; see DealFact).
- `insights_facts_refresh(ids)`: replaces the changed facts of those deals and appends the signed
  differences to insights_rollup (unsettled rows: appends never wait on each other).
- triggers on deals_deal, deals_closure (after the loss history's own, by name order),
  deals_account and followups_closuresequence mark the deals a statement touched in
  insights_dirtydeal; a deferred constraint trigger on it (`insights_rollup_flush`) refreshes them
  all once, at commit. A close writes the deal, a closure and its nurture sequence: one refresh,
  not three. The dirty row's key also queues two transactions that touch the same deal, so the
  second refreshes after the first committed. `SET CONSTRAINTS insights_rollup_flush IMMEDIATE`
  refreshes earlier (insights.rollup.flush: a read inside the writing transaction).
- `insights_rollup_compact()`: folds unsettled rows into one settled row per key (Celery beat).
- `insights_facts_rebuild()`: recomputes everything, the loss history included, from the deals and
  their closures (bulk loads with triggers off, repair).

The rollup rows of facts come from one template (ROLLUP_SELECT): over the changed facts in the
trigger, and over the whole table in the view `insights_rollup_expected` (rebuild, drift checks).
"""

from django.db import migrations

KEY = (
    "grouping, month, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id, "
    "competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened"
)

# The rollup rows of some facts (f), signed, one per grouping each fact belongs to.
ROLLUP_SELECT = """
SELECT g.grouping, f.month, f.team_id, g.owner_id, f.pipeline_id, f.status, g.currency,
       g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band, g.first_lost_reason_id,
       g.sequence_id, g.reopened,
       sum({sign}) AS deals, sum({sign} * f.needs_reason::int) AS needs_reason,
       sum({sign} * f.amount) AS amount, sum({sign} * f.cycle_seconds) AS cycle_seconds
  FROM {source}
 CROSS JOIN LATERAL (VALUES
     (1, f.owner_id, f.currency, NULL::bigint, NULL::bigint, NULL::bigint, NULL::varchar, NULL::varchar,
      NULL::bigint, NULL::bigint, NULL::boolean, f.status <> 'open'),
     (2, NULL, f.currency, f.reason_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, f.status = 'lost'),
     (3, NULL, f.currency, NULL, f.stage_id, NULL, NULL, NULL, NULL, NULL, NULL, f.status = 'lost'),
     (4, NULL, f.currency, NULL, NULL, f.competitor_id, NULL, NULL, NULL, NULL, NULL,
      f.status IN ('won', 'lost') AND f.competitor_id IS NOT NULL),
     (5, NULL, f.currency, NULL, NULL, NULL, f.industry, NULL, NULL, NULL, NULL, f.status <> 'open'),
     (6, NULL, f.currency, NULL, NULL, NULL, NULL, NULL, f.first_lost_reason_id, NULL, f.reopened, f.ever_lost),
     (7, f.owner_id, NULL, f.reason_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, f.status = 'lost'),
     (8, NULL, f.currency, NULL, NULL, NULL, NULL, f.band, NULL, NULL, NULL, f.status <> 'open'),
     (9, NULL, f.currency, NULL, NULL, NULL, NULL, NULL, NULL, f.sequence_id, f.reopened, f.ever_lost)
 ) AS g (grouping, owner_id, currency, reason_id, stage_id, competitor_id, industry, band,
         first_lost_reason_id, sequence_id, reopened, included)
 WHERE g.included
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
"""
INSERT_ROLLUP = f"INSERT INTO insights_rollup (settled, {KEY}, deals, needs_reason, amount, cycle_seconds)"

# Replaces the changed facts of `ids` and appends the signed differences to the rollup. Every
# match is on deal_id, so a large batch joins by hash, not row against row.
REFRESH = f"""
CREATE OR REPLACE FUNCTION {{name}}(ids bigint[]) RETURNS void AS $$
DECLARE
    fresh insights_dealfact[];
    gone insights_dealfact[];
    added insights_dealfact[];
BEGIN
    SELECT array_agg(n) INTO fresh FROM insights_facts_compute(ids) n;
    -- Facts that no longer hold (deleted, or changed) ...
    WITH removed AS (
        DELETE FROM insights_dealfact f
         WHERE f.deal_id = ANY(ids)
           AND NOT EXISTS (SELECT 1 FROM unnest(fresh) n WHERE n.deal_id = f.deal_id AND n IS NOT DISTINCT FROM f)
     RETURNING f.*)
    SELECT array_agg(removed::insights_dealfact) INTO gone FROM removed;
    -- ... and the facts that hold now and are not stored yet.
    WITH inserted AS (
        INSERT INTO insights_dealfact
        SELECT n.* FROM unnest(fresh) n
         WHERE NOT EXISTS (SELECT 1 FROM insights_dealfact f WHERE f.deal_id = n.deal_id)
     RETURNING *)
    SELECT array_agg(inserted::insights_dealfact) INTO added FROM inserted;
    IF gone IS NOT NULL THEN
        {INSERT_ROLLUP}
        SELECT false, * FROM ({ROLLUP_SELECT.format(sign="-1", source="unnest(gone) AS f")}) r;
    END IF;
    IF added IS NOT NULL THEN
        {INSERT_ROLLUP}
        SELECT false, * FROM ({ROLLUP_SELECT.format(sign="1", source="unnest(added) AS f")}) r;
    END IF;
END
$$ LANGUAGE plpgsql SET plan_cache_mode = {{plans}};
"""  # noqa: S608 - fixed names only

FUNCTIONS = f"""
-- What insights_rollup sums to when it agrees with insights_dealfact (rebuild, drift checks).
CREATE OR REPLACE VIEW insights_rollup_expected AS
{ROLLUP_SELECT.format(sign="1", source="insights_dealfact AS f")};

CREATE OR REPLACE FUNCTION insights_facts_compute(ids bigint[]) RETURNS SETOF insights_dealfact AS $$
SELECT d.id,
       coalesce(d.closed_at, h.last_closed_at),
       date_trunc('month', coalesce(d.closed_at, h.last_closed_at) AT TIME ZONE 'UTC')::date,
       d.team_id, d.owner_id, d.pipeline_id, d.stage_id, d.status, d.currency, d.amount,
       CASE WHEN d.status <> 'open' THEN extract(epoch FROM d.closed_at - d.created_at) END,
       d.close_reason_id,
       d.status = 'lost' AND d.close_reason_id IS NULL,
       c.competitor_id,
       a.industry,
       CASE WHEN a.employees IS NULL THEN 'unknown' WHEN a.employees < 50 THEN 'under-50'
            WHEN a.employees < 250 THEN '50-249' WHEN a.employees < 1000 THEN '250-999'
            ELSE '1000-plus' END,
       h.deal_id IS NOT NULL,
       h.first_lost_reason_id,
       s.sequence_id,
       coalesce(h.reopened, false)
  FROM deals_deal d
  JOIN deals_account a ON a.id = d.account_id
  LEFT JOIN insights_losshistory h ON h.deal_id = d.id
  LEFT JOIN deals_closure c ON c.deal_id = d.id AND c.reopened_at IS NULL
  LEFT JOIN followups_closuresequence s ON s.closure_id = h.first_lost_closure_id
 WHERE d.id = ANY(ids) AND (d.status <> 'open' OR h.deal_id IS NOT NULL)
$$ LANGUAGE sql STABLE;

{REFRESH.format(name="insights_facts_refresh_few", plans="force_generic_plan")}
{REFRESH.format(name="insights_facts_refresh_many", plans="force_custom_plan")}

-- A few deals (a close, an edit): plans made once per connection. Many (an import): plans made
-- for the rows at hand.
CREATE OR REPLACE FUNCTION insights_facts_refresh(ids bigint[]) RETURNS void AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    ELSIF cardinality(ids) <= 64 THEN
        PERFORM insights_facts_refresh_few(ids);
    ELSE
        PERFORM insights_facts_refresh_many(ids);
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE UNLOGGED TABLE IF NOT EXISTS insights_dirtydeal (deal_id bigint PRIMARY KEY);

CREATE OR REPLACE FUNCTION insights_facts_mark(ids bigint[]) RETURNS void AS $$
    INSERT INTO insights_dirtydeal (deal_id) SELECT DISTINCT id FROM unnest(ids) AS id
    ON CONFLICT DO NOTHING;
$$ LANGUAGE sql;

-- Fired (deferred) once per dirty row; the first firing refreshes every dirty deal.
CREATE OR REPLACE FUNCTION insights_facts_flush() RETURNS trigger AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH flushed AS (DELETE FROM insights_dirtydeal RETURNING deal_id)
    SELECT array_agg(deal_id) INTO ids FROM flushed;
    PERFORM insights_facts_refresh(ids);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_rollup_compact() RETURNS integer AS $$
DECLARE
    zero bigint[];
    folded integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    WITH moved AS (DELETE FROM insights_rollup WHERE NOT settled RETURNING *),
    summed AS (
        SELECT {KEY}, sum(deals) deals, sum(needs_reason) needs_reason, sum(amount) amount,
               sum(cycle_seconds) cycle_seconds, count(*) n
          FROM moved GROUP BY {KEY}),
    upserted AS (
        INSERT INTO insights_rollup (settled, {KEY}, deals, needs_reason, amount, cycle_seconds)
        SELECT true, {KEY}, deals, needs_reason, amount, cycle_seconds FROM summed
        ON CONFLICT ({KEY}) WHERE settled DO UPDATE
           SET deals = insights_rollup.deals + excluded.deals,
               needs_reason = insights_rollup.needs_reason + excluded.needs_reason,
               amount = insights_rollup.amount + excluded.amount,
               cycle_seconds = CASE WHEN insights_rollup.cycle_seconds IS NULL THEN excluded.cycle_seconds
                                    ELSE insights_rollup.cycle_seconds + coalesce(excluded.cycle_seconds, 0) END
        RETURNING id, deals)
    SELECT array_agg(id) FILTER (WHERE deals = 0), (SELECT coalesce(sum(n), 0) FROM summed)
      INTO zero, folded FROM upserted;
    -- A key whose deals all went elsewhere (every measure is back to zero).
    DELETE FROM insights_rollup WHERE id = ANY(zero);
    RETURN folded;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_facts_rebuild() RETURNS void AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    LOCK TABLE insights_losshistory, insights_dealfact, insights_rollup IN EXCLUSIVE MODE;
    TRUNCATE insights_losshistory, insights_dealfact, insights_rollup;
    -- The loss history too (as migration 0004 fills it), for loads that switched triggers off.
    INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
    SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id, r.deal_id IS NOT NULL, a.last_closed_at
      FROM deals_closure l
      JOIN (SELECT deal_id, max(closed_at) AS last_closed_at FROM deals_closure GROUP BY deal_id) a
        ON a.deal_id = l.deal_id
      LEFT JOIN (SELECT DISTINCT deal_id FROM deals_closure WHERE outcome = 'lost' AND reopened_at IS NOT NULL) r
        ON r.deal_id = l.deal_id
     WHERE l.outcome = 'lost'
     ORDER BY l.deal_id, l.closed_at, l.id;
    INSERT INTO insights_dealfact
    SELECT * FROM insights_facts_compute(ARRAY(
        SELECT id FROM deals_deal WHERE status <> 'open'
        UNION SELECT deal_id FROM insights_losshistory));
    {INSERT_ROLLUP} SELECT true, * FROM insights_rollup_expected;
END
$$ LANGUAGE plpgsql;

-- deals_deal: closed deals inserted, relevant columns updated, deals deleted.
CREATE OR REPLACE FUNCTION insights_facts_deal_insert() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(SELECT id FROM changed WHERE status <> 'open'));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_facts_deal_update() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT n.id FROM changed n JOIN previous o ON o.id = n.id
         WHERE (n.status, n.closed_at, n.created_at, n.team_id, n.owner_id, n.pipeline_id, n.stage_id,
                n.currency, n.amount, n.close_reason_id, n.account_id)
               IS DISTINCT FROM
               (o.status, o.closed_at, o.created_at, o.team_id, o.owner_id, o.pipeline_id, o.stage_id,
                o.currency, o.amount, o.close_reason_id, o.account_id)));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_facts_deal_delete() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT f.deal_id FROM insights_dealfact f JOIN previous o ON o.id = f.deal_id));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- deals_closure: the standing closure's competitor, and (through insights_losshistory) the loss history.
CREATE OR REPLACE FUNCTION insights_facts_closure_change() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(SELECT DISTINCT deal_id FROM changed));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- deals_account: industry and size of every deal of the account; open ones too, so that a close
-- committing at the same moment queues behind this edit (or this edit behind it).
CREATE OR REPLACE FUNCTION insights_facts_account_update() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT d.id FROM changed n JOIN previous o ON o.id = n.id
          JOIN deals_deal d ON d.account_id = n.id
         WHERE (n.industry, n.employees) IS DISTINCT FROM (o.industry, o.employees)));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- followups_closuresequence: the nurture sequence of a first loss.
CREATE OR REPLACE FUNCTION insights_facts_sequence_change() RETURNS trigger AS $$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT DISTINCT c.deal_id FROM changed s JOIN deals_closure c ON c.id = s.closure_id));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""  # noqa: S608 - fixed names only

TRIGGERS = [
    # (name, table, event, transition tables, function)
    ("insights_rollup_deal_insert", "deals_deal", "INSERT", "NEW TABLE AS changed", "deal_insert"),
    (
        "insights_rollup_deal_update",
        "deals_deal",
        "UPDATE",
        "OLD TABLE AS previous NEW TABLE AS changed",
        "deal_update",
    ),
    ("insights_rollup_deal_delete", "deals_deal", "DELETE", "OLD TABLE AS previous", "deal_delete"),
    ("insights_rollup_closure_insert", "deals_closure", "INSERT", "NEW TABLE AS changed", "closure_change"),
    ("insights_rollup_closure_update", "deals_closure", "UPDATE", "NEW TABLE AS changed", "closure_change"),
    (
        "insights_rollup_account_update",
        "deals_account",
        "UPDATE",
        "OLD TABLE AS previous NEW TABLE AS changed",
        "account_update",
    ),
    (
        "insights_rollup_sequence_insert",
        "followups_closuresequence",
        "INSERT",
        "NEW TABLE AS changed",
        "sequence_change",
    ),
    (
        "insights_rollup_sequence_update",
        "followups_closuresequence",
        "UPDATE",
        "NEW TABLE AS changed",
        "sequence_change",
    ),
    (
        "insights_rollup_sequence_delete",
        "followups_closuresequence",
        "DELETE",
        "OLD TABLE AS changed",
        "sequence_change",
    ),
]
FUNCTION_NAMES = [
    "insights_facts_mark(bigint[])",
    "insights_facts_flush()",
    "insights_facts_compute(bigint[])",
    "insights_facts_refresh(bigint[])",
    "insights_facts_refresh_few(bigint[])",
    "insights_facts_refresh_many(bigint[])",
    "insights_rollup_compact()",
    "insights_facts_rebuild()",
    "insights_facts_deal_insert()",
    "insights_facts_deal_update()",
    "insights_facts_deal_delete()",
    "insights_facts_closure_change()",
    "insights_facts_account_update()",
    "insights_facts_sequence_change()",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTIONS)
    for name, table, event, transition, function in TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_{function}()"
        )
    schema_editor.execute(
        "CREATE CONSTRAINT TRIGGER insights_rollup_flush AFTER INSERT ON insights_dirtydeal"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION insights_facts_flush()"
    )
    schema_editor.execute("SELECT insights_facts_rebuild()")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, *_ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute("DROP TABLE IF EXISTS insights_dirtydeal")
    for function in FUNCTION_NAMES:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")
    schema_editor.execute("DROP VIEW IF EXISTS insights_rollup_expected")


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0006_facts_and_rollup"),
        ("followups", "0005_digest_sent"),
        ("deals", "0005_closure_list_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
