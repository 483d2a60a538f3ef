{#
    A delivered or delivered_late instance of a deliverable or recurring commitment has
    the evidence that proves it (a delivered_at), and a breached one has none.
#}
{% test status_consistent_with_evidence(model, column_name) %}

select *
from {{ model }}
where kind in ('deliverable', 'recurring')
    and (
        ({{ column_name }} in ('delivered', 'delivered_late') and base_status in ('delivered', 'delivered_late')
            and delivered_at is null)
        or ({{ column_name }} = 'breached' and delivered_at is not null)
    )

{% endtest %}
