{# A score or rate is a share: between 0 and 1 inclusive (empty passes). #}
{% test score_between_zero_and_one(model, column_name) %}

select *
from {{ model }}
where {{ column_name }} < 0 or {{ column_name }} > 1

{% endtest %}
