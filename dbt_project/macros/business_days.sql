{#
    Business-day arithmetic on int_business_days_numbered (China's calendar, with
    statutory holidays and make-up working days). `business_day_number` counts the
    working days up to and including each date, so the n-th business day after a date d
    is the working day numbered number(d) + n, whether or not d itself is a working day.
    n = 0 leaves the date as it is. A date outside the calendar gives NULL; callers fall
    back to calendar days and flag the result provisional.
#}
{% macro add_business_days(date_expr, n_expr) -%}
    (case
        when ({{ n_expr }}) is null or ({{ n_expr }}) = 0 then ({{ date_expr }})
        else (
            select bd_to.calendar_date
            from {{ ref('int_business_days_numbered') }} as bd_from
            inner join {{ ref('int_business_days_numbered') }} as bd_to
                on bd_to.business_day_number = bd_from.business_day_number + ({{ n_expr }})
            where bd_from.calendar_date = ({{ date_expr }})
                and bd_to.is_working_day
        )
    end)
{%- endmacro %}

{# True when any day from start to end (inclusive) is provisional or missing from the calendar. #}
{% macro calendar_is_provisional(start_expr, end_expr) -%}
    (({{ end_expr }}) is null
        or exists (
            select 1 from {{ ref('int_business_days_numbered') }} as bd_p
            where bd_p.calendar_date between ({{ start_expr }}) and ({{ end_expr }})
                and bd_p.is_provisional
        )
        or (select count(*) from {{ ref('int_business_days_numbered') }} as bd_c
            where bd_c.calendar_date between ({{ start_expr }}) and ({{ end_expr }}))
            < (({{ end_expr }}) - ({{ start_expr }}) + 1))
{%- endmacro %}

{# The interval of one period: week, month or quarter (PostgreSQL has no '1 quarter'). #}
{% macro period_interval(period_expr) -%}
    (case ({{ period_expr }}) when 'quarter' then interval '3 months' else ('1 ' || ({{ period_expr }}))::interval end)
{%- endmacro %}

{#
    How many calendar periods (week, month, quarter) a term touches, from the one holding its
    first day to the one holding its last: a threshold commitment's windows in its term.
#}
{% macro periods_in_term(period_expr, start_expr, end_expr) -%}
    (
        select count(*)
        from generate_series(
            date_trunc({{ period_expr }}, {{ start_expr }}),
            ({{ end_expr }})::timestamp,
            {{ period_interval(period_expr) }}
        )
    )
{%- endmacro %}
