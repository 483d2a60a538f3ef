{#
    A multi-column relationship: every combination of `columns` in the model exists in
    `to` (dbt's relationships test takes one column only).
#}
{% test relationships_by_key(model, to, columns) %}

select {{ columns | join(', ') }}
from {{ model }} as child
where not exists (
    select 1
    from {{ to }} as parent
    where {% for column in columns %}parent.{{ column }} = child.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}
)

{% endtest %}
