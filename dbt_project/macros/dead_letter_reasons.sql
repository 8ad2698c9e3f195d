{#- The dead-letter reasons of the event contract (events-v1, section 5), in its order. -#}
{% macro dead_letter_reasons() -%}
    {{ return(['not_json', 'not_an_object', 'too_large', 'missing_attribute', 'bad_specversion', 'bad_id',
               'source_topic_mismatch', 'unknown_provider', 'unknown_type', 'bad_time', 'future_time',
               'bad_subject', 'bad_dataschema', 'data_invalid']) }}
{%- endmacro %}
