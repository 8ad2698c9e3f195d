{#-
  One row per participants_served member (a participant) and period, with every group it counts in:
  operators.funder_outcome_member_rows has a row per program type (and one for services) of the same
  participant, who counts once in `all` and once in each group of any of its rows (served_members_of).
  int_outcomes__member_counts counts these beside the other measures' member rows (one row per member
  already) when it counts whole; counting by difference, it merges the changed participants' rows itself,
  with the same macro.
  Incremental by participant like the member rows it reads (macros/incremental_outcomes.sql): merging
  3.7 million served rows was most of funder_outcomes' 12 s in every build at 10 million events.
-#}
{{ outcome_members_config() }}

with {{ rebuilt_participants_cte() }}
served_rows as (
    select * from {{ ref('funder_outcome_member_rows') }}
    where measure_id = 'participants_served' and {{ outcome_member_is_rebuilt() }}
)

{{ served_members_of('served_rows') }}
