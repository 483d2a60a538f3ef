-- A missing feed never reads as a breach: a deliverable, recurring or quota instance is
-- breached only once a load of the feed that would prove delivery arrived after its
-- deadline (due date plus grace) and still showed no evidence. Checked for the as-of
-- dates of this run.
select statuses.*
from {{ ref('commitment_statuses') }} as statuses
inner join {{ ref('int_evidence_feeds_checked') }} as feeds
    on feeds.evidence_type = statuses.evidence_type
    and feeds.as_of_date = statuses.as_of_date
where statuses.status = 'breached'
    and statuses.kind <> 'threshold'
    and coalesce(feeds.last_load_date <= statuses.breach_date, true)
