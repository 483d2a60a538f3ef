{#
    One row per brand, pillar, side and as-of date: the weighted score (as in
    agreement_fulfilment) and the counts that explain it, over the brand's agreements.
#}
{{ scorecard('brand_id', 'brand_name') }}
