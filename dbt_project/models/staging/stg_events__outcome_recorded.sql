with source as (
    {{ stg_events_source('outcome.recorded', {'domain': 'VARCHAR', 'status': 'VARCHAR'}) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.domain as outcome_domain,
        fields.status as outcome_status,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
