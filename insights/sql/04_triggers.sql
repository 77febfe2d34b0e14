-- Statement triggers that mark the deals a statement touched in insights_dirtydeal; the deferred
-- constraint trigger insights_rollup_flush (02_facts.sql) refreshes them once, at commit.
-- On deals_closure they fire after the loss history's own (name order: insights_loss_history_*).

-- deals_deal: closed deals inserted, relevant columns updated, deals deleted.
CREATE OR REPLACE FUNCTION insights_facts_deal_insert()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(SELECT id FROM changed WHERE status <> 'open'));
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION insights_facts_deal_update()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION insights_facts_deal_delete()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT f.deal_id FROM insights_dealfact f JOIN previous o ON o.id = f.deal_id));
    RETURN NULL;
END
$function$;

-- deals_closure: the standing closure's competitor, and (through insights_losshistory) the loss history.
CREATE OR REPLACE FUNCTION insights_facts_closure_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(SELECT DISTINCT deal_id FROM changed));
    RETURN NULL;
END
$function$;

-- deals_account: industry and size of every deal of the account; open ones too, so that a close
-- committing at the same moment queues behind this edit (or this edit behind it).
CREATE OR REPLACE FUNCTION insights_facts_account_update()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT d.id FROM changed n JOIN previous o ON o.id = n.id
          JOIN deals_deal d ON d.account_id = n.id
         WHERE (n.industry, n.employees) IS DISTINCT FROM (o.industry, o.employees)));
    RETURN NULL;
END
$function$;

-- followups_closuresequence: the nurture sequence of a first loss.
CREATE OR REPLACE FUNCTION insights_facts_sequence_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT DISTINCT c.deal_id FROM changed s JOIN deals_closure c ON c.id = s.closure_id));
    RETURN NULL;
END
$function$;

-- reasons_reason: a reason made (or no longer) disqualifying, or merged into one, changes the
-- status its lost deals count under (those of the reasons merged into it too).
CREATE OR REPLACE FUNCTION insights_facts_reason_update()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM insights_facts_mark(ARRAY(
        SELECT d.id FROM changed n JOIN previous o ON o.id = n.id
          JOIN reasons_reason r ON r.id = n.id OR r.merged_into_id = n.id
          JOIN deals_deal d ON d.close_reason_id = r.id AND d.status = 'lost'
         WHERE (n.is_disqualifying, n.merged_into_id) IS DISTINCT FROM (o.is_disqualifying, o.merged_into_id)));
    RETURN NULL;
END
$function$;

CREATE OR REPLACE TRIGGER insights_rollup_deal_insert AFTER INSERT ON deals_deal REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_deal_insert();
CREATE OR REPLACE TRIGGER insights_rollup_deal_update AFTER UPDATE ON deals_deal REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_deal_update();
CREATE OR REPLACE TRIGGER insights_rollup_deal_delete AFTER DELETE ON deals_deal REFERENCING OLD TABLE AS previous FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_deal_delete();
CREATE OR REPLACE TRIGGER insights_rollup_closure_insert AFTER INSERT ON deals_closure REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_closure_change();
CREATE OR REPLACE TRIGGER insights_rollup_closure_update AFTER UPDATE ON deals_closure REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_closure_change();
CREATE OR REPLACE TRIGGER insights_rollup_account_update AFTER UPDATE ON deals_account REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_account_update();
CREATE OR REPLACE TRIGGER insights_rollup_sequence_insert AFTER INSERT ON followups_closuresequence REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_sequence_change();
CREATE OR REPLACE TRIGGER insights_rollup_sequence_update AFTER UPDATE ON followups_closuresequence REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_sequence_change();
CREATE OR REPLACE TRIGGER insights_rollup_sequence_delete AFTER DELETE ON followups_closuresequence REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_sequence_change();
CREATE OR REPLACE TRIGGER insights_rollup_reason_update AFTER UPDATE ON reasons_reason REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_facts_reason_update();
