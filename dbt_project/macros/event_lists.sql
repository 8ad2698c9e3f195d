-- Lists of {event_id, provider_id} structs: the events that decide an outcome member, collected by a
-- correlated `list({...} order by ...)` (null when there are none), as the drill-down's two columns. The
-- provider is carried with its event so that the member rows need no lookup of 10 million events.
{% macro event_ids_of(events) -%}
    coalesce(list_transform({{ events }}, lambda event: event.event_id), cast([] as varchar[]))
{%- endmacro %}

{% macro provider_ids_of(events) -%}  {# sorted, each once #}
    list_sort(list_distinct(coalesce(list_transform({{ events }}, lambda event: event.provider_id), cast([] as varchar[]))))
{%- endmacro %}
