{#- Every dead-letter reason, in the order they are decided: streams/schemas/dead_letter_reason.json is the
    one list (dbt cannot read it); tests/test_contract_sync.py fails when this copy differs from it. -#}
{% macro dead_letter_reasons() -%}
    {{ return(['unreadable_record', 'too_large', 'not_json', 'not_an_object', 'missing_attribute',
               'bad_specversion', 'bad_id', 'source_topic_mismatch', 'unknown_provider', 'unknown_type',
               'bad_time', 'future_time', 'bad_subject', 'bad_dataschema', 'data_invalid']) }}
{%- endmacro %}
