with source as (
    {{ stg_events_source('custody.admitted') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'facility_type' as facility_type,
        data ->> 'admission_reason' as admission_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
