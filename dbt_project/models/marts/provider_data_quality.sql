-- One row per provider and day of landing (warehouse-v1, marts.provider_data_quality), UTC days.
-- events_landed: distinct events (source + id) first landed that day; duplicates: re-sent copies landed
-- that day; dead_letters and one count per contract reason; batches_quarantined: batches of the
-- provider quarantined by the loader, on the day they were validated; late_events: events first landed
-- more than 7 days after their time; invalid_transitions: referral status changes the provider sent
-- that day that do not follow the referral life. Counts of events, not of people: no suppression.
with landed as (  -- each landed row flagged once, kept between builds (int_landed_rows__flagged)
    select
        provider_id,
        landed_on,
        count(*) filter (where is_first_copy) as events_landed,
        count(*) filter (where not is_first_copy) as duplicates,
        count(*) filter (where is_first_copy and landed_late) as late_events
    from {{ ref('int_landed_rows__flagged') }}
    group by all
),

dead_letters as (
    select
        provider_id,
        cast(landed_at as date) as landed_on,
        count(*) as dead_letters,
        {% for reason in dead_letter_reasons() -%}
        count(*) filter (where error_reason = '{{ reason }}') as dead_letters_{{ reason }}{{ ',' if not loop.last }}
        {% endfor %}
    from {{ ref('stg_raw__dead_letters') }}
    group by all
),

quarantined as (
    select provider_id, cast(coalesce(validated_at, loaded_at) as date) as landed_on, count(*) as batches_quarantined
    from {{ ref('stg_raw__batches') }}
    where batch_status = 'quarantined'
    group by all
),

invalid_transitions as (
    select
        lifecycle.provider_id,
        cast(status_changes.landed_at as date) as landed_on,
        count(*) as invalid_transitions
    from {{ ref('int_referrals__lifecycle') }} as lifecycle
    inner join {{ ref('stg_events__referral_status_changed') }} as status_changes
        on status_changes.event_id = lifecycle.event_id
        and status_changes.provider_id = lifecycle.provider_id
    where not lifecycle.is_valid_transition
    group by all
),

provider_days as (
    select provider_id, landed_on from landed
    union
    select provider_id, landed_on from dead_letters
    union
    select provider_id, landed_on from quarantined
    union
    select provider_id, landed_on from invalid_transitions
)

select
    provider_days.provider_id,
    provider_days.landed_on,
    coalesce(landed.events_landed, 0) as events_landed,
    coalesce(landed.duplicates, 0) as duplicates,
    coalesce(dead_letters.dead_letters, 0) as dead_letters,
    {% for reason in dead_letter_reasons() -%}
    coalesce(dead_letters.dead_letters_{{ reason }}, 0) as dead_letters_{{ reason }},
    {% endfor -%}
    coalesce(quarantined.batches_quarantined, 0) as batches_quarantined,
    coalesce(landed.late_events, 0) as late_events,
    coalesce(invalid_transitions.invalid_transitions, 0) as invalid_transitions
from provider_days
left join landed using (provider_id, landed_on)
left join dead_letters using (provider_id, landed_on)
left join quarantined using (provider_id, landed_on)
left join invalid_transitions using (provider_id, landed_on)
