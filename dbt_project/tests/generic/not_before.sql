{#
    A date or timestamp column is never earlier than another column of the same row
    (rows where either is empty pass). E.g. a breach date is never before its due date.
#}
{% test not_before(model, column_name, other_column) %}

select *
from {{ model }}
where {{ column_name }} < {{ other_column }}

{% endtest %}
