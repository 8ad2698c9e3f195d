-- Drill-down (issue 15), who each member of operators.funder_outcome_members is: one row per member_ref
-- that a published cell lists, with the member_id (what the measure counts), the pseudonymous
-- participant key, the events (ids, sorted) that put it in the cell and decide its numerator, and the
-- providers (sorted) that sent them, for the audit trail. Only refs of published cells: a suppressed
-- cell's members must not be here either.
-- The providers are found once per distinct list (unnested once), not once per member and group.
with published_refs as (
    select distinct member_ref from {{ ref('funder_outcome_members') }}
),

lists as (
    select
        scopes.member_ref,
        any_value(scopes.member_id) as member_id,  -- a member_ref is one (member_id, participant_key, event_ids)
        any_value(scopes.participant_key) as participant_key,
        any_value(scopes.event_ids) as event_ids
    from {{ ref('int_outcomes__member_scopes') }} as scopes
    semi join published_refs on published_refs.member_ref = scopes.member_ref
    group by scopes.member_ref
),

list_events as (
    select member_ref, unnest(event_ids) as event_id from lists
),

list_providers as (  -- the providers whose events these are: whose rows an operator opens
    select list_events.member_ref, list_sort(list_distinct(list(events.provider_id))) as provider_ids
    from list_events
    inner join {{ ref('int_events__unioned') }} as events on events.event_id = list_events.event_id
    group by list_events.member_ref
)

select
    lists.member_ref,
    lists.member_id,
    lists.participant_key,
    lists.event_ids,
    coalesce(list_providers.provider_ids, []) as provider_ids
from lists
left join list_providers on list_providers.member_ref = lists.member_ref
-- ordered by member_ref, that is by member_id: a member's lists of several periods lie together and share
-- events, which DuckDB compresses (75 MB instead of 133 MB at 100,000 participants, for 2 s of CPU)
order by lists.member_ref
