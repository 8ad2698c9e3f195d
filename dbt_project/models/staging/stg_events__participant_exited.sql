with source as (
    {{ stg_events_source('participant.exited', {'enrollment_id': 'VARCHAR', 'exit_reason': 'VARCHAR'}) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.enrollment_id as enrollment_id,
        fields.exit_reason as exit_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
