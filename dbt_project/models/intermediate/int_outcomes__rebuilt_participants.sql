{#- The participants whose outcome member rows can have changed since this model's last build, found
    once for the eight models that keep member rows (macros/incremental_outcomes.sql): a model whose
    state is the one this search started from takes them from here. Without a state of its own it finds
    none and keeps no base: each model then searches for itself (or, without a state of its own either,
    rebuilds every participant). -#}
{{ config(
    materialized='table',
    pre_hook="{{ keep_rebuilt_participants_base() }}",
    post_hook="{{ save_incremental_state(['int_events__unioned']) }}"
) }}
-- depends_on: {{ ref('int_events__unioned') }} {{ ref('int_participants__enrollment_spells') }}
{% if execute and incremental_state() is not none %}
{{ outcome_members_changed() }}
{% else %}
select cast(null as varchar) as participant_key where false
{% endif %}
