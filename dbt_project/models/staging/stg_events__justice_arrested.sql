with source as (
    {{ stg_events_source('justice.arrested', {'charge_category': 'VARCHAR'}) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.charge_category as charge_category,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
