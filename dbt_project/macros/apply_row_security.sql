{#
    Row-level security on the marts for reporting logins (docs/deploy.md, "Row-level security").

    `apply_row_security()` is the marts' and snapshots' post-hook, so it is (re)applied each
    time dbt builds a relation: a table materialization creates a new table, and a policy set
    once would be lost on the next run. The policy keys on the first of agreement_id,
    brand_id, group_id the relation has. A relation with none of them holds nothing per
    agreement (mart_builds) and stays as it is.

    A view reads its tables with the rights of its owner, whom the policies do not restrict:
    - a view over mart tables is made `security_invoker`, so their policies apply through it;
    - a view that reads below the marts (which the reader may not read) filters its own rows
      with `visible_rows(key)` and says so with `meta={'row_security': 'in_view'}`.
#}
{% macro visible_rows(key) -%}
    {%- set visible -%}
        (select access.visible_keys(current_user, current_setting('partnerops.account_manager', true), '{{ key }}'))
    {%- endset -%}
    ({{ visible }} is null or {{ key }}::text = any ({{ visible }}::text[]))
{%- endmacro %}

{% macro apply_row_security() -%}
    {%- if not execute or model.config.materialized == 'ephemeral'
           or (model.config.meta or {}).get('row_security') == 'in_view' -%}
        {{ return('') }}
    {%- endif -%}
    {%- if model.config.materialized == 'view' -%}
        alter view {{ this }} set (security_invoker = true)
    {%- else -%}
        {%- set ns = namespace(key=none) -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- for candidate in ['agreement_id', 'brand_id', 'group_id'] -%}
            {%- if ns.key is none and candidate in columns -%}{%- set ns.key = candidate -%}{%- endif -%}
        {%- endfor -%}
        {%- if ns.key is not none -%}
            alter table {{ this }} enable row level security;
            drop policy if exists partnerops_scope on {{ this }};
            create policy partnerops_scope on {{ this }} for select using {{ visible_rows(ns.key) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
