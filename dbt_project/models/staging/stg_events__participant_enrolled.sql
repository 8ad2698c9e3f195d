with source as (
    {{ stg_events_source('participant.enrolled') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'enrollment_id' as enrollment_id,
        data ->> 'program_type' as program_type,
        data ->> 'referral_id' as referral_id,
        data ->> 'risk_level' as risk_level,
        cast(data ->> 'birth_year' as integer) as birth_year,
        data ->> 'gender' as gender,
        coalesce(from_json(data -> 'race_ethnicity', '["VARCHAR"]'), []::varchar[]) as race_ethnicity,
        data ->> 'zip3' as zip3,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
