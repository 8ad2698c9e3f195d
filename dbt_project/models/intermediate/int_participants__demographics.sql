-- The groups a participant counts in for funder_outcomes, one row per participant, dimension and
-- value: `gender` once (from the latest enrollment; `not_recorded` when the participant has none), and
-- `race_ethnicity` once under every category recorded on the latest enrollment (none when the list is
-- empty or there is no enrollment), so race rows may add up to more or less than `all`.
with spine as (
    select * from {{ ref('int_participants__spine') }}
),

gender as (
    select participant_key, 'gender' as dimension, coalesce(gender, 'not_recorded') as dimension_value
    from spine
),

race_ethnicity as (
    select distinct participant_key, 'race_ethnicity' as dimension, unnest(race_ethnicity) as dimension_value
    from spine
    where race_ethnicity is not null
)

select * from gender
union all
select * from race_ethnicity
