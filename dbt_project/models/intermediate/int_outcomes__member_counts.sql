{#-
  One row per measure, period and set of groups: how many members have exactly those groups, and how many
  of them are in the numerator. marts.funder_outcomes sums these per group (161,000 rows at 10 M events,
  instead of one per member and group). A participants_served member is a participant, its member rows
  merged (served_members_of); in every other measure a member is one member row.
  Counted by difference when it can be (macros/incremental_outcomes.sql, member_counts_by_difference):
  the pre-hook works out the changed cells' new counts and deletes their stored rows; otherwise it
  deletes every row and they are counted whole. A cell that no member has any more has no row.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ delete_changed_member_counts() }}",
    post_hook="{{ save_member_counts_state(member_counts_by_difference()) }}",
) }}
-- depends_on: {{ ref('funder_outcome_member_rows') }}

{% if member_counts_by_difference() %}
select * from {{ member_counts_difference_relation() }} where members > 0
{% else %}
{{ counted_members(members_of(ref('funder_outcome_member_rows'))) }}
{% endif %}
