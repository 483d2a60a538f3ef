{#
    Custom schemas are used as given (staging, intermediate, marts, snapshots, reference),
    not prefixed with the target schema: every environment has its own database, so the
    prefix would only make the names longer for the readers of the marts.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
