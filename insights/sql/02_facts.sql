-- The facts (insights_dealfact): what each deal adds to the figures, and how a change reaches the
-- rollup (insights_rollup) as signed differences. Rules: docs/summary.md.
-- Every column list is written out: nothing here depends on the order of a table's columns.

-- What each of those deals adds to the figures now: closed deals and deals ever lost.
CREATE OR REPLACE FUNCTION insights_facts_compute(ids bigint[])
 RETURNS TABLE(deal_id bigint, closed_at timestamp with time zone, month date, team_id bigint, owner_id bigint, pipeline_id bigint, stage_id bigint, status character varying, currency character varying, amount numeric, cycle_seconds numeric, reason_id bigint, needs_reason boolean, competitor_id bigint, industry character varying, band text, ever_lost boolean, first_lost_reason_id bigint, sequence_id bigint, reopened boolean)
 LANGUAGE sql
 STABLE
AS $function$
SELECT d.id AS deal_id,
       coalesce(d.closed_at, h.last_closed_at) AS closed_at,
       date_trunc('month', coalesce(d.closed_at, h.last_closed_at) AT TIME ZONE 'UTC')::date AS month,
       d.team_id, d.owner_id, d.pipeline_id, d.stage_id,
       -- A loss for a disqualifying reason (or one merged into such a reason) counts apart.
       CASE WHEN d.status = 'lost' AND coalesce(m.is_disqualifying, r.is_disqualifying, false)
            THEN 'disqualified' ELSE d.status END AS status,
       d.currency, d.amount,
       CASE WHEN d.status <> 'open' THEN extract(epoch FROM d.closed_at - d.created_at) END AS cycle_seconds,
       d.close_reason_id AS reason_id,
       d.status = 'lost' AND d.close_reason_id IS NULL AS needs_reason,
       c.competitor_id,
       a.industry,
       -- deals.selectors.SIZE_BANDS, as insights.groupings.band_case_sql writes it (a test checks)
       CASE WHEN a.employees IS NULL THEN 'unknown' WHEN a.employees < 50 THEN 'under-50'
            WHEN a.employees < 250 THEN '50-249' WHEN a.employees < 1000 THEN '250-999'
            ELSE '1000-plus' END AS band,
       h.deal_id IS NOT NULL AS ever_lost,
       h.first_lost_reason_id,
       s.sequence_id,
       coalesce(h.reopened, false) AS reopened
  FROM deals_deal d
  JOIN deals_account a ON a.id = d.account_id
  LEFT JOIN insights_losshistory h ON h.deal_id = d.id
  LEFT JOIN deals_closure c ON c.deal_id = d.id AND c.reopened_at IS NULL
  LEFT JOIN followups_closuresequence s ON s.closure_id = h.first_lost_closure_id
  LEFT JOIN reasons_reason r ON r.id = d.close_reason_id
  LEFT JOIN reasons_reason m ON m.id = r.merged_into_id
 WHERE d.id = ANY(ids) AND (d.status <> 'open' OR h.deal_id IS NOT NULL)
$function$;

-- Which groupings of the rollup a fact belongs to, and its keys in each (the other keys NULL):
-- insights.groupings.GROUPINGS, written here once. Inlined where it is called.
CREATE OR REPLACE FUNCTION insights_fact_groupings(f insights_dealfact)
 RETURNS TABLE("grouping" integer, owner_id bigint, currency character varying, reason_id bigint, stage_id bigint, competitor_id bigint, industry character varying, band character varying, first_lost_reason_id bigint, sequence_id bigint, reopened boolean)
 LANGUAGE sql
 IMMUTABLE
AS $function$
SELECT g.grouping, g.owner_id, g.currency, g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band,
       g.first_lost_reason_id, g.sequence_id, g.reopened
  FROM (VALUES
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
$function$;

-- Appends facts to the rollup, signed (+1 added, -1 removed), in every grouping they belong to:
-- by month (insights_rollup) and by day (insights_rollupday, for the partial months of a period).
CREATE OR REPLACE FUNCTION insights_rollup_append(facts insights_dealfact[], direction integer)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO insights_rollup (
        settled, grouping, month, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
        competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
        deals, needs_reason, amount, amount_sq, cycle_seconds)
    SELECT false, g.grouping, f.month, f.team_id, g.owner_id, f.pipeline_id, f.status, g.currency,
           g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band, g.first_lost_reason_id,
           g.sequence_id, g.reopened,
           sum(direction), sum(direction * f.needs_reason::int), sum(direction * f.amount),
           sum(direction * f.amount * f.amount), sum(direction * f.cycle_seconds)
      FROM unnest(facts) AS f
     CROSS JOIN LATERAL insights_fact_groupings(f) AS g
     GROUP BY 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16;
    INSERT INTO insights_rollupday (
        settled, grouping, day, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
        competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
        deals, needs_reason, amount, amount_sq, cycle_seconds)
    SELECT false, g.grouping, (f.closed_at AT TIME ZONE 'UTC')::date, f.team_id, g.owner_id, f.pipeline_id,
           f.status, g.currency, g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band,
           g.first_lost_reason_id, g.sequence_id, g.reopened,
           sum(direction), sum(direction * f.needs_reason::int), sum(direction * f.amount),
           sum(direction * f.amount * f.amount), sum(direction * f.cycle_seconds)
      FROM unnest(facts) AS f
     CROSS JOIN LATERAL insights_fact_groupings(f) AS g
     GROUP BY 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16;
END
$function$;

-- Replaces the changed facts of `ids` and appends the signed differences to the rollup. Every
-- match is on deal_id, so a large batch joins by hash, not row against row. The plan cache mode
-- comes from the caller (insights_facts_refresh_few / _many).
CREATE OR REPLACE FUNCTION insights_facts_apply(ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    fresh insights_dealfact[];
    gone insights_dealfact[];
    added insights_dealfact[];
BEGIN
    -- By column name (through jsonb), so the table's column order does not matter.
    SELECT array_agg(jsonb_populate_record(NULL::insights_dealfact, to_jsonb(n))) INTO fresh
      FROM insights_facts_compute(ids) n;
    -- Facts that no longer hold (deleted, or changed) ...
    WITH removed AS (
        DELETE FROM insights_dealfact f
         WHERE f.deal_id = ANY(ids)
           AND NOT EXISTS (SELECT 1 FROM unnest(fresh) n WHERE n.deal_id = f.deal_id AND n IS NOT DISTINCT FROM f)
     RETURNING f AS fact)
    SELECT array_agg(fact) INTO gone FROM removed;
    -- ... and the facts that hold now and are not stored yet.
    WITH inserted AS (
        INSERT INTO insights_dealfact AS f (
            deal_id, closed_at, month, team_id, owner_id, pipeline_id, stage_id, status, currency, amount,
            cycle_seconds, reason_id, needs_reason, competitor_id, industry, band, ever_lost,
            first_lost_reason_id, sequence_id, reopened)
        SELECT n.deal_id, n.closed_at, n.month, n.team_id, n.owner_id, n.pipeline_id, n.stage_id, n.status,
               n.currency, n.amount, n.cycle_seconds, n.reason_id, n.needs_reason, n.competitor_id, n.industry,
               n.band, n.ever_lost, n.first_lost_reason_id, n.sequence_id, n.reopened
          FROM unnest(fresh) n
         WHERE NOT EXISTS (SELECT 1 FROM insights_dealfact o WHERE o.deal_id = n.deal_id)
     RETURNING f AS fact)
    SELECT array_agg(fact) INTO added FROM inserted;
    IF gone IS NOT NULL THEN
        PERFORM insights_rollup_append(gone, -1);
    END IF;
    IF added IS NOT NULL THEN
        PERFORM insights_rollup_append(added, 1);
    END IF;
END
$function$;

-- A few deals (a close, an edit): plans made once per connection.
CREATE OR REPLACE FUNCTION insights_facts_refresh_few(ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    PERFORM insights_facts_apply(ids);
END
$function$;

-- Many (an import): plans made for the rows at hand.
CREATE OR REPLACE FUNCTION insights_facts_refresh_many(ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
BEGIN
    PERFORM insights_facts_apply(ids);
END
$function$;

CREATE OR REPLACE FUNCTION insights_facts_refresh(ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    ELSIF cardinality(ids) <= 64 THEN
        PERFORM insights_facts_refresh_few(ids);
    ELSE
        PERFORM insights_facts_refresh_many(ids);
    END IF;
END
$function$;

-- The deals a transaction touched; a deferred constraint trigger refreshes them once, at commit.
-- The row's key also queues two transactions that touch the same deal.
CREATE UNLOGGED TABLE IF NOT EXISTS insights_dirtydeal (deal_id bigint PRIMARY KEY);

-- Deals whose refresh a long writer (a CSV import) puts off to its end: a writing transaction that
-- sets insights.deferred = 'on' (transaction-local) marks its deals here instead, and the writer
-- refreshes them all once (insights_facts_refresh_pending), in its last step or when it fails; a
-- writer that died leaves them to the next compaction. Logged, so a crash keeps the list.
CREATE TABLE IF NOT EXISTS insights_pendingdeal (
    deal_id bigint PRIMARY KEY,
    since timestamp with time zone NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION insights_facts_mark(ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF current_setting('insights.deferred', true) = 'on' THEN
        INSERT INTO insights_pendingdeal (deal_id) SELECT DISTINCT id FROM unnest(ids) AS id
        ON CONFLICT DO NOTHING;
        RETURN;
    END IF;
    INSERT INTO insights_dirtydeal (deal_id) SELECT DISTINCT id FROM unnest(ids) AS id
    ON CONFLICT DO NOTHING;
    -- A flush is due again in this transaction (see insights_facts_flush).
    PERFORM set_config('insights.flushed', 'off', true);
END
$function$;

-- Takes the pending deals marked before `before` and marks them dirty in this transaction, so
-- that its commit refreshes them as it would a close (the dirty rows queue a close of the same
-- deal behind it). Returns how many it took.
CREATE OR REPLACE FUNCTION insights_facts_refresh_pending(before timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    ids bigint[];
BEGIN
    PERFORM set_config('insights.deferred', 'off', true);
    WITH taken AS (DELETE FROM insights_pendingdeal WHERE since <= before RETURNING deal_id)
    SELECT array_agg(deal_id) INTO ids FROM taken;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM insights_facts_mark(ids);
    RETURN cardinality(ids);
END
$function$;

-- Fired (deferred) once per dirty row; the first firing refreshes every dirty deal. The others
-- return at once while nothing was marked since (a transaction-local setting): each would
-- otherwise scan the rows the first one deleted, quadratic in the deals a transaction touched.
CREATE OR REPLACE FUNCTION insights_facts_flush()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    ids bigint[];
BEGIN
    IF current_setting('insights.flushed', true) = 'on' THEN
        RETURN NULL;
    END IF;
    WITH flushed AS (DELETE FROM insights_dirtydeal RETURNING deal_id)
    SELECT array_agg(deal_id) INTO ids FROM flushed;
    PERFORM insights_facts_refresh(ids);
    PERFORM set_config('insights.flushed', 'on', true);
    RETURN NULL;
END
$function$;

-- A constraint trigger cannot be replaced in place.
DROP TRIGGER IF EXISTS insights_rollup_flush ON insights_dirtydeal;
CREATE CONSTRAINT TRIGGER insights_rollup_flush AFTER INSERT ON insights_dirtydeal DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION insights_facts_flush();


-- What insights_rollup sums to when it agrees with insights_dealfact (rebuild, drift checks).
CREATE OR REPLACE VIEW insights_rollup_expected AS
SELECT g.grouping, f.month, f.team_id, g.owner_id, f.pipeline_id, f.status, g.currency,
       g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band, g.first_lost_reason_id,
       g.sequence_id, g.reopened,
       sum(1) AS deals, sum(1 * f.needs_reason::int) AS needs_reason,
       sum(1 * f.amount) AS amount, sum(1 * f.cycle_seconds) AS cycle_seconds,
       sum(f.amount * f.amount) AS amount_sq
  FROM insights_dealfact AS f
 CROSS JOIN LATERAL insights_fact_groupings(f) AS g
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15;

-- The same by day (insights_rollupday).
CREATE OR REPLACE VIEW insights_rollupday_expected AS
SELECT g.grouping, (f.closed_at AT TIME ZONE 'UTC')::date AS day, f.team_id, g.owner_id, f.pipeline_id,
       f.status, g.currency, g.reason_id, g.stage_id, g.competitor_id, g.industry, g.band,
       g.first_lost_reason_id, g.sequence_id, g.reopened,
       sum(1) AS deals, sum(1 * f.needs_reason::int) AS needs_reason,
       sum(1 * f.amount) AS amount, sum(1 * f.cycle_seconds) AS cycle_seconds,
       sum(f.amount * f.amount) AS amount_sq
  FROM insights_dealfact AS f
 CROSS JOIN LATERAL insights_fact_groupings(f) AS g
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15;
