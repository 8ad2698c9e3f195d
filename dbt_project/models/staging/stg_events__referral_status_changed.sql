with source as (
    {{ stg_events_source('referral.status_changed', {
        'referral_id': 'VARCHAR',
        'status': 'VARCHAR',
        'status_reason': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.referral_id as referral_id,
        fields.status as status,
        fields.status_reason as status_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
