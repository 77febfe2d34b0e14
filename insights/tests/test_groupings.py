"""The summary's SQL counts the deals insights.groupings says, in the size bands deals.selectors says."""

from insights import groupings, summary_sql


def squeezed(text: str) -> str:
    return " ".join(text.split())


def facts_sql() -> str:
    return squeezed((summary_sql.SQL_DIR / "02_facts.sql").read_text())


def test_the_rollup_values_list_is_the_groupings_table_written_once():
    # Once: insights_fact_groupings, which the refresh and the view call.
    assert facts_sql().count(squeezed(groupings.values_sql())) == 1, groupings.values_sql()


def test_the_facts_size_band_is_the_size_bands_table():
    assert squeezed(groupings.band_case_sql()) in facts_sql(), groupings.band_case_sql()


def test_each_grouping_counts_what_its_rule_says():
    members = groupings.MEMBERS
    assert members[groupings.Grouping.BASE] == "f.status <> 'open'"
    assert members[groupings.Grouping.COMPETITOR] == (
        "f.status IN ('won', 'lost') AND f.competitor_id IS NOT NULL"
    )
    assert members[groupings.Grouping.RECOVERY_SEQUENCE] == "f.ever_lost"
    assert {groupings.Grouping.BASE, groupings.Grouping.REP_REASON} == groupings.BY_OWNER
