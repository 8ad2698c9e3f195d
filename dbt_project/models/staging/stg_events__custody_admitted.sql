with source as (
    {{ stg_events_source('custody.admitted', {'facility_type': 'VARCHAR', 'admission_reason': 'VARCHAR'}) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.facility_type as facility_type,
        fields.admission_reason as admission_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
