with source as (
    {{ stg_events_source('participant.enrolled', {
        'enrollment_id': 'VARCHAR',
        'program_type': 'VARCHAR',
        'referral_id': 'VARCHAR',
        'risk_level': 'VARCHAR',
        'birth_year': 'VARCHAR',
        'gender': 'VARCHAR',
        'race_ethnicity': ['VARCHAR'],
        'zip3': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.enrollment_id as enrollment_id,
        fields.program_type as program_type,
        fields.referral_id as referral_id,
        fields.risk_level as risk_level,
        cast(fields.birth_year as integer) as birth_year,
        fields.gender as gender,
        coalesce(fields.race_ethnicity, []::varchar[]) as race_ethnicity,
        fields.zip3 as zip3,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
