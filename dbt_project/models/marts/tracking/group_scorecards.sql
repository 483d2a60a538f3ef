{#
    One row per group, pillar, side and as-of date: the weighted score (as in
    agreement_fulfilment) over the agreements of the group's brands.
#}
{{ scorecard('group_id', 'group_name') }}
