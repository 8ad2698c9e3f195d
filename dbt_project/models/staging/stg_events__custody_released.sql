with source as (
    {{ stg_events_source('custody.released') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'facility_type' as facility_type,
        data ->> 'release_reason' as release_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
