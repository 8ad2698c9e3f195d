{#-
  Small-cell suppression (warehouse-v1, funder_outcomes), the one rule every published aggregate uses.

  `relation` has a `numerator` and a `denominator` (null where a measure has none) per row. A row is
  suppressed when its numerator or its denominator is from 1 to `max_small` (10): both become null,
  and so does `rate`. Complementary rule: where a group (`group_by`: the same measure, period and
  dimension) has exactly one suppressed row, the next smallest row of the group (smallest denominator,
  else numerator; ties by `tie_breaker`) is suppressed too, so that the hidden count cannot be
  recovered from the others and the `all` row. Zero is published.

  Returns a select of the relation's columns with `numerator`, `denominator`, `rate` and
  `is_suppressed` (last four columns, in that order).
-#}
{% macro suppress_small_cells(relation, group_by, tie_breaker, max_small=10) %}
    with cells as (
        select
            *,
            coalesce(numerator between 1 and {{ max_small }}, false)
                or coalesce(denominator between 1 and {{ max_small }}, false) as is_small_cell
        from {{ relation }}
    ),

    ranked as (
        select
            *,
            count(*) filter (where is_small_cell) over (partition by {{ group_by | join(', ') }})
                as small_cells_in_group,
            -- rows that are not small first, then by size: rank 1 is the next smallest row
            row_number() over (
                partition by {{ group_by | join(', ') }}
                order by is_small_cell, coalesce(denominator, numerator), numerator, {{ tie_breaker }}
            ) as size_rank
        from cells
    ),

    flagged as (
        select
            * exclude (is_small_cell, small_cells_in_group, size_rank),
            is_small_cell or (small_cells_in_group = 1 and size_rank = 1 and not is_small_cell) as is_suppressed
        from ranked
    )

    select
        * exclude (numerator, denominator, is_suppressed),
        case when is_suppressed then null else numerator end as numerator,
        case when is_suppressed then null else denominator end as denominator,
        case when is_suppressed or denominator is null or denominator = 0 then null
             else cast(numerator as double) / denominator end as rate,
        is_suppressed
    from flagged
{% endmacro %}
