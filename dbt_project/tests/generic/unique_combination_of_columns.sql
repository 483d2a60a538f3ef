{#
    The columns together identify a row: no two rows share the same values.
    Usage (model level):
      data_tests:
        - unique_combination_of_columns:
            arguments:
              combination_of_columns: [as_of_date, commitment_instance_id]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select {{ combination_of_columns | join(', ') }}, count(*) as row_count
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
