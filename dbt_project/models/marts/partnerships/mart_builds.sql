{#
    When the marts were last built, and for which as-of date: every page of the
    Partnerships view says so. Rebuilt by every `dbt run` or `dbt build` of the project.
#}
select
    {{ as_of_var() }} as as_of_var,
    now()::timestamptz as built_at
