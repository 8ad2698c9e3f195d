with source as (
    {{ stg_events_source('outcome.recorded') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'domain' as outcome_domain,
        data ->> 'status' as outcome_status,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
