with source as (
    {{ stg_events_source('custody.released', {'facility_type': 'VARCHAR', 'release_reason': 'VARCHAR'}) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.facility_type as facility_type,
        fields.release_reason as release_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
