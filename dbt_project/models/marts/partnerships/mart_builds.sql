{#
    When the marts were last built, and for which as-of date: every page of the
    Partnerships view says so. Rebuilt by every `dbt run` or `dbt build` of the project.
#}
select
    {% if var('as_of') %}'{{ var('as_of') }}'::date{% else %}null::date{% endif %} as as_of_var,
    now()::timestamptz as built_at
