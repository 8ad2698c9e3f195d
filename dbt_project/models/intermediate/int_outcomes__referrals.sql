-- funder_outcomes' referral measures, one row per measure, period and referral of a consenting
-- participant (period: of requested_at):
--   referral_response_48h     referrals not entered-in-error whose 48 h have elapsed by as_of;
--                             numerator: first response (accepted or rejected) within 48 h
--   referral_loop_closed_90d  referrals not entered-in-error whose 90 days have elapsed;
--                             numerator: closed (first terminal status) on day 0 to 90
--   referral_connected        referrals ever accepted; numerator: connected (as in referral_handoffs)
-- "Not entered-in-error" reads the final status, as provider_handoff_summary does.
-- event_ids: the referral's request and its status changes by as_of, provider_ids: who sent them (for the
-- operators' drill-down).
-- Incremental by participant (macros/incremental_outcomes.sql): only the participants whose rows can
-- have changed since the last build are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_consenting_participants() }}

referrals as (
    select referrals.*, cast(referrals.requested_at as date) as requested_on
    from {{ ref('referral_handoffs') }} as referrals
    inner join consenting on consenting.participant_key = referrals.participant_key
),

referral_events as (
    select
        referral_id,
        list(event_id order by occurred_at, event_id) as event_ids,
        list_sort(list_distinct(list(provider_id))) as provider_ids
    from (
        select referral_id, event_id, provider_id, occurred_at from {{ ref('stg_events__referral_requested') }}
        union all
        select referral_id, event_id, provider_id, changed_at from {{ ref('int_referrals__lifecycle') }}
    )
    where occurred_at <= {{ as_of() }}
      and referral_id in (select referral_id from referrals)
    group by referral_id
),

in_periods as (
    {{ in_periods('referrals', 'referrals.requested_on') }}
),

members as (
    select
        'referral_response_48h' as measure_id, period_grain, period_start, referral_id as member_id,
        participant_key,
        coalesce(first_response_at <= requested_at + interval 48 hour, false) as is_in_numerator,
        to_provider_id, service_type
    from in_periods
    where final_status <> 'entered-in-error'
      and requested_at + interval 48 hour <= {{ as_of() }}
    union all
    select
        'referral_loop_closed_90d', period_grain, period_start, referral_id, participant_key,
        coalesce(cast(closed_at as date) <= requested_on + 90, false),
        to_provider_id, service_type
    from in_periods
    where final_status <> 'entered-in-error'
      and requested_on + 90 < {{ as_of_date() }}
    union all
    select
        'referral_connected', period_grain, period_start, referral_id, participant_key,
        is_connected,
        to_provider_id, service_type
    from in_periods
    where accepted_at is not null
)

select
    members.measure_id,
    members.period_grain,
    members.period_start,
    members.member_id,
    members.participant_key,
    members.is_in_numerator,
    cast(null as varchar) as program_type,
    members.to_provider_id,
    members.service_type,
    referral_events.event_ids,
    referral_events.provider_ids,
    {{ build_started_at() }} as refreshed_at  -- written by this build: what the member rows read since
from members
left join referral_events on referral_events.referral_id = members.member_id
