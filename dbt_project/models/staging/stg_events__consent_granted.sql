with source as (
    {{ stg_events_source('consent.granted', {
        'consent_id': 'VARCHAR',
        'scope': 'VARCHAR',
        'part2': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.consent_id as consent_id,
        fields.scope as consent_scope,
        cast(fields.part2 as boolean) as is_part2,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
