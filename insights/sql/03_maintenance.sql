-- Keeping the summary tidy (compaction) and repairing it (rebuild): insights/rollup.py calls these.
-- Rules: docs/summary.md ("Compaction and repair").

-- Folds unsettled rollup rows into one settled row per key (Celery beat), in the monthly rollup
-- and the daily one (the same statement, `grain` month or day); returns how many folded.
CREATE OR REPLACE FUNCTION insights_rollup_compact()
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    zero bigint[];
    folded integer;
    total integer := 0;
    tbl text;
    grain text;
    keys text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    FOR tbl, grain IN VALUES ('insights_rollup', 'month'), ('insights_rollupday', 'day') LOOP
        keys := format('grouping, %I, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,'
                       ' competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened', grain);
        EXECUTE format($sql$
            WITH moved AS (
                DELETE FROM %1$I WHERE NOT settled
                RETURNING %2$s, deals, needs_reason, amount, amount_sq, cycle_seconds),
            summed AS (
                SELECT %2$s, sum(deals) deals, sum(needs_reason) needs_reason, sum(amount) amount,
                       sum(amount_sq) amount_sq, sum(cycle_seconds) cycle_seconds, count(*) n
                  FROM moved GROUP BY %2$s),
            upserted AS (
                INSERT INTO %1$I (settled, %2$s, deals, needs_reason, amount, amount_sq, cycle_seconds)
                SELECT true, %2$s, deals, needs_reason, amount, amount_sq, cycle_seconds FROM summed
                ON CONFLICT (%2$s) WHERE settled DO UPDATE
                   SET deals = %1$I.deals + excluded.deals,
                       needs_reason = %1$I.needs_reason + excluded.needs_reason,
                       amount = %1$I.amount + excluded.amount,
                       amount_sq = %1$I.amount_sq + excluded.amount_sq,
                       cycle_seconds = CASE WHEN %1$I.cycle_seconds IS NULL THEN excluded.cycle_seconds
                                            ELSE %1$I.cycle_seconds + coalesce(excluded.cycle_seconds, 0) END
                RETURNING id, deals)
            SELECT array_agg(id) FILTER (WHERE deals = 0), (SELECT coalesce(sum(n), 0) FROM summed)
              FROM upserted$sql$, tbl, keys)
        INTO zero, folded;
        -- A key whose deals all went elsewhere (every measure is back to zero).
        EXECUTE format('DELETE FROM %I WHERE id = ANY($1)', tbl) USING zero;
        total := total + folded;
    END LOOP;
    RETURN total;
END
$function$;

-- Repairs the deals first_id..last_id: their loss history, then their facts (the rollup gets the
-- signed differences, as after a close). Reads first and writes only for deals that are wrong,
-- after locking those (FOR SHARE): a close of one of them waits for this slice, and this slice
-- for a close in flight; other deals are not held. Returns how many deals it repaired.
CREATE OR REPLACE FUNCTION insights_facts_rebuild_slice(first_id bigint, last_id bigint)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    ids bigint[];
BEGIN
    -- The loss history as the closures give it (as insights_loss_history_refresh keeps it).
    CREATE TEMPORARY TABLE IF NOT EXISTS insights_expected_history (
        deal_id bigint PRIMARY KEY, first_lost_closure_id bigint, first_lost_reason_id bigint,
        reopened boolean, last_closed_at timestamp with time zone) ON COMMIT DELETE ROWS;
    FOR step IN 1..2 LOOP
        TRUNCATE insights_expected_history;
        INSERT INTO insights_expected_history (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
        SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id,
               EXISTS (SELECT 1 FROM deals_closure r
                        WHERE r.deal_id = l.deal_id AND r.outcome = 'lost' AND r.reopened_at IS NOT NULL),
               (SELECT max(a.closed_at) FROM deals_closure a WHERE a.deal_id = l.deal_id)
          FROM deals_closure l
         WHERE l.outcome = 'lost' AND l.deal_id BETWEEN first_id AND last_id
           AND (step = 1 OR l.deal_id = ANY(ids))
         ORDER BY l.deal_id, l.closed_at, l.id;
        EXIT WHEN step = 2;
        -- Read only: the deals whose loss history or fact disagrees with their deal and closures.
        ids := ARRAY(
            SELECT coalesce(e.deal_id, h.deal_id)
              FROM insights_expected_history e
              FULL JOIN (SELECT deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at
                           FROM insights_losshistory WHERE deal_id BETWEEN first_id AND last_id) h
                ON h.deal_id = e.deal_id
             WHERE (e.deal_id, e.first_lost_closure_id, e.first_lost_reason_id, e.reopened, e.last_closed_at)
                   IS DISTINCT FROM
                   (h.deal_id, h.first_lost_closure_id, h.first_lost_reason_id, h.reopened, h.last_closed_at)
            UNION
            SELECT coalesce(n.deal_id, f.deal_id)
              FROM insights_facts_compute(ARRAY(
                       SELECT id FROM deals_deal WHERE id BETWEEN first_id AND last_id AND status <> 'open'
                       UNION SELECT deal_id FROM insights_losshistory WHERE deal_id BETWEEN first_id AND last_id)) n
              FULL JOIN (SELECT deal_id, closed_at, month, team_id, owner_id, pipeline_id, stage_id, status,
                                currency, amount, cycle_seconds, reason_id, needs_reason, competitor_id, industry,
                                band, ever_lost, first_lost_reason_id, sequence_id, reopened
                           FROM insights_dealfact WHERE deal_id BETWEEN first_id AND last_id) f
                ON f.deal_id = n.deal_id
             WHERE (n.deal_id, n.closed_at, n.month, n.team_id, n.owner_id, n.pipeline_id, n.stage_id, n.status,
                    n.currency, n.amount, n.cycle_seconds, n.reason_id, n.needs_reason, n.competitor_id,
                    n.industry, n.band, n.ever_lost, n.first_lost_reason_id, n.sequence_id, n.reopened)
                   IS DISTINCT FROM
                   (f.deal_id, f.closed_at, f.month, f.team_id, f.owner_id, f.pipeline_id, f.stage_id, f.status,
                    f.currency, f.amount, f.cycle_seconds, f.reason_id, f.needs_reason, f.competitor_id,
                    f.industry, f.band, f.ever_lost, f.first_lost_reason_id, f.sequence_id, f.reopened)
             ORDER BY 1);
        IF cardinality(ids) = 0 THEN
            RETURN 0;
        END IF;
        PERFORM 1 FROM deals_deal WHERE id = ANY(ids) ORDER BY id FOR SHARE;
        -- Locked: read the closures of those deals again (a close may have committed meanwhile).
    END LOOP;
    DELETE FROM insights_losshistory h
     WHERE h.deal_id = ANY(ids)
       AND NOT EXISTS (
           SELECT 1 FROM insights_expected_history e
            WHERE (e.deal_id, e.first_lost_closure_id, e.first_lost_reason_id, e.reopened, e.last_closed_at)
                  IS NOT DISTINCT FROM
                  (h.deal_id, h.first_lost_closure_id, h.first_lost_reason_id, h.reopened, h.last_closed_at));
    INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
    SELECT e.deal_id, e.first_lost_closure_id, e.first_lost_reason_id, e.reopened, e.last_closed_at
      FROM insights_expected_history e
     WHERE NOT EXISTS (SELECT 1 FROM insights_losshistory h WHERE h.deal_id = e.deal_id);
    TRUNCATE insights_expected_history;
    PERFORM insights_facts_refresh(ids);
    RETURN cardinality(ids);
END
$function$;

-- Appends to the rollups (by month and by day) what they lack against the facts (unsettled rows,
-- folded by compaction). One statement each, in one snapshot: a close committing meanwhile adds to
-- both sides alike.
CREATE OR REPLACE FUNCTION insights_rollup_repair()
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    repaired integer;
    total integer := 0;
    tbl text;
    grain text;
    keys text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    FOR tbl, grain IN VALUES ('insights_rollup', 'month'), ('insights_rollupday', 'day') LOOP
        keys := format('grouping, %I, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,'
                       ' competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened', grain);
        EXECUTE format($sql$
            INSERT INTO %1$I (settled, %2$s, deals, needs_reason, amount, amount_sq, cycle_seconds)
            SELECT false, %2$s, sum(deals), sum(needs_reason), sum(amount), sum(amount_sq),
                   CASE WHEN count(cycle_seconds) > 0 THEN sum(cycle_seconds) END
              FROM (SELECT %2$s, deals, needs_reason, amount, amount_sq, cycle_seconds FROM %1$s_expected
                     UNION ALL
                    SELECT %2$s, -deals, -needs_reason, -amount, -amount_sq, -cycle_seconds FROM %1$I) d
             GROUP BY %2$s
            HAVING sum(deals) <> 0 OR sum(needs_reason) <> 0 OR sum(amount) <> 0 OR sum(amount_sq) <> 0
                OR coalesce(sum(cycle_seconds), 0) <> 0$sql$, tbl, keys);
        GET DIAGNOSTICS repaired = ROW_COUNT;
        total := total + repaired;
    END LOOP;
    RETURN total;
END
$function$;

-- Refills both rollups from the stored facts at once (a migration that adds a measure or a grain),
-- in the order the figures read them (a grouping's months or days lie together, few pages each).
CREATE OR REPLACE FUNCTION insights_rollup_refill()
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    LOCK TABLE insights_dealfact, insights_rollup, insights_rollupday IN EXCLUSIVE MODE;
    TRUNCATE insights_rollup, insights_rollupday;
    INSERT INTO insights_rollup (
        settled, grouping, month, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
        competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
        deals, needs_reason, amount, amount_sq, cycle_seconds)
    SELECT true, grouping, month, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
           competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
           deals, needs_reason, amount, amount_sq, cycle_seconds
      FROM insights_rollup_expected
     ORDER BY grouping, month, team_id;
    INSERT INTO insights_rollupday (
        settled, grouping, day, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
        competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
        deals, needs_reason, amount, amount_sq, cycle_seconds)
    SELECT true, grouping, day, team_id, owner_id, pipeline_id, status, currency, reason_id, stage_id,
           competitor_id, industry, band, first_lost_reason_id, sequence_id, reopened,
           deals, needs_reason, amount, amount_sq, cycle_seconds
      FROM insights_rollupday_expected
     ORDER BY grouping, day, team_id;
END
$function$;

-- Recomputes everything at once, the loss history included, holding the summary's tables for the
-- whole run (every close waits): for an empty summary after a bulk load with triggers off.
CREATE OR REPLACE FUNCTION insights_facts_rebuild()
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('insights_rollup_compact'));
    LOCK TABLE insights_losshistory, insights_dealfact, insights_rollup, insights_rollupday IN EXCLUSIVE MODE;
    TRUNCATE insights_losshistory, insights_dealfact, insights_rollup, insights_rollupday;
    INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
    SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id, r.deal_id IS NOT NULL, a.last_closed_at
      FROM deals_closure l
      JOIN (SELECT deal_id, max(closed_at) AS last_closed_at FROM deals_closure GROUP BY deal_id) a
        ON a.deal_id = l.deal_id
      LEFT JOIN (SELECT DISTINCT deal_id FROM deals_closure WHERE outcome = 'lost' AND reopened_at IS NOT NULL) r
        ON r.deal_id = l.deal_id
     WHERE l.outcome = 'lost'
     ORDER BY l.deal_id, l.closed_at, l.id;
    INSERT INTO insights_dealfact (
        deal_id, closed_at, month, team_id, owner_id, pipeline_id, stage_id, status, currency, amount,
        cycle_seconds, reason_id, needs_reason, competitor_id, industry, band, ever_lost,
        first_lost_reason_id, sequence_id, reopened)
    SELECT n.deal_id, n.closed_at, n.month, n.team_id, n.owner_id, n.pipeline_id, n.stage_id, n.status,
           n.currency, n.amount, n.cycle_seconds, n.reason_id, n.needs_reason, n.competitor_id, n.industry,
           n.band, n.ever_lost, n.first_lost_reason_id, n.sequence_id, n.reopened
      FROM insights_facts_compute(ARRAY(
          SELECT id FROM deals_deal WHERE status <> 'open'
          UNION SELECT deal_id FROM insights_losshistory)) n;
    PERFORM insights_rollup_refill();
END
$function$;
