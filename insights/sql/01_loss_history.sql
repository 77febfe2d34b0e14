-- The loss history (insights_losshistory): one row per deal ever lost, refreshed from its closures.
-- Rules: docs/summary.md ("Loss history").

CREATE OR REPLACE FUNCTION insights_loss_history_refresh()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    DELETE FROM insights_losshistory h USING (SELECT DISTINCT deal_id FROM changed) c
     WHERE h.deal_id = c.deal_id;
    INSERT INTO insights_losshistory (deal_id, first_lost_closure_id, first_lost_reason_id, reopened, last_closed_at)
    SELECT DISTINCT ON (l.deal_id) l.deal_id, l.id, l.reason_id,
           EXISTS (SELECT 1 FROM deals_closure r
                    WHERE r.deal_id = l.deal_id AND r.outcome = 'lost' AND r.reopened_at IS NOT NULL),
           (SELECT max(a.closed_at) FROM deals_closure a WHERE a.deal_id = l.deal_id)
      FROM deals_closure l
     WHERE l.outcome = 'lost' AND l.deal_id IN (SELECT deal_id FROM changed)
     ORDER BY l.deal_id, l.closed_at, l.id;
    RETURN NULL;
END
$function$;

-- Named so that they fire before the summary's own triggers on deals_closure (name order).
CREATE OR REPLACE TRIGGER insights_loss_history_insert AFTER INSERT ON deals_closure REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_loss_history_refresh();
CREATE OR REPLACE TRIGGER insights_loss_history_update AFTER UPDATE ON deals_closure REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_loss_history_refresh();
