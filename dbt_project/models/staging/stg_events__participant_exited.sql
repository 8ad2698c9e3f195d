with source as (
    {{ stg_events_source('participant.exited') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'enrollment_id' as enrollment_id,
        data ->> 'exit_reason' as exit_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
