-- One row per sending provider, receiving provider and month of request (warehouse-v1,
-- marts.provider_handoff_summary); referrals whose final status is entered-in-error are left out.
-- Every count goes through the one small-cell rule (suppress_small_cells): each count column is a
-- measure, the month its period and the sending provider its group, so a count from 1 to 10 is
-- published as null, and where one count of a column is hidden among a sender's receivers that month,
-- the next smallest is hidden too. The median is hidden with referrals_requested, and
-- loop_closure_rate (closed ÷ requested) when closed or requested is from 1 to 10.
with referrals as (
    select *
    from {{ ref('referral_handoffs') }}
    where final_status <> 'entered-in-error'
),

ever_rejected as (
    select distinct referral_id from {{ ref('int_referrals__lifecycle') }} where status = 'rejected'
),

counted as (
    select
        referrals.from_provider_id,
        referrals.to_provider_id,
        cast(date_trunc('month', referrals.requested_at) as date) as month,
        count(*) as referrals_requested,
        count(*) filter (where first_response_at <= requested_at + interval 48 hour) as responded_within_48h,
        count(*) filter (where accepted_at is not null) as accepted,
        count(*) filter (where ever_rejected.referral_id is not null) as rejected,
        count(*) filter (where completed_at is not null) as completed,
        count(*) filter (where is_connected) as connected,
        count(*) filter (where is_stalled) as stalled,
        count(*) filter (where closed_at is not null) as closed,
        median(hours_to_first_response) as median_hours_to_first_response
    from referrals
    left join ever_rejected on ever_rejected.referral_id = referrals.referral_id
    group by all
),

cells as (  -- long form: one row per pair, month and measure, as the suppression rule reads it
    select from_provider_id, to_provider_id, month, measure, numerator,
           case when measure = 'closed' then requested_total end as denominator
    from (select * exclude (median_hours_to_first_response), referrals_requested as requested_total from counted)
    unpivot (numerator for measure in (
        referrals_requested, responded_within_48h, accepted, rejected, completed, connected, stalled,
        closed
    ))
),

published_cells as (
    {{ suppress_small_cells('cells', ['measure', 'month', 'from_provider_id'], 'to_provider_id') }}
),

published as (
    select
        from_provider_id,
        to_provider_id,
        month,
        any_value(numerator) filter (where measure = 'referrals_requested') as referrals_requested,
        any_value(numerator) filter (where measure = 'responded_within_48h') as responded_within_48h,
        any_value(numerator) filter (where measure = 'accepted') as accepted,
        any_value(numerator) filter (where measure = 'rejected') as rejected,
        any_value(numerator) filter (where measure = 'completed') as completed,
        any_value(numerator) filter (where measure = 'connected') as connected,
        any_value(numerator) filter (where measure = 'stalled') as stalled,
        bool_or(is_suppressed) filter (where measure = 'referrals_requested') as is_requested_suppressed,
        any_value(rate) filter (where measure = 'closed') as loop_closure_rate
    from published_cells
    group by all
)

select
    published.from_provider_id,
    published.to_provider_id,
    published.month,
    published.referrals_requested,
    published.responded_within_48h,
    published.accepted,
    published.rejected,
    published.completed,
    published.connected,
    published.stalled,
    case when published.is_requested_suppressed then null
         else counted.median_hours_to_first_response end as median_hours_to_first_response,
    published.loop_closure_rate
from published
inner join counted
    on counted.from_provider_id = published.from_provider_id
    and counted.to_provider_id = published.to_provider_id
    and counted.month = published.month
