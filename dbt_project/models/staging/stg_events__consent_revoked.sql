with source as (
    {{ stg_events_source('consent.revoked') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'consent_id' as consent_id,
        data ->> 'scope' as consent_scope,
        cast(data ->> 'part2' as boolean) as is_part2,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
