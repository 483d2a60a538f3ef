-- A missing feed never reads as a breach: a deliverable, recurring or quota instance is
-- breached only when the feed that would prove delivery covered it: data from the
-- instance's opening on, and a load after its deadline that still showed no evidence.
-- Checked for the as-of dates of this run.
select statuses.*
from {{ ref('commitment_statuses') }} as statuses
inner join {{ ref('int_evidence_feeds_checked') }} as feeds
    on feeds.evidence_type = statuses.evidence_type
    and feeds.as_of_date = statuses.as_of_date
where statuses.status = 'breached'
    and statuses.kind <> 'threshold'
    and (coalesce(feeds.last_load_date <= statuses.breach_date, true)
        or coalesce(feeds.covered_from_date > coalesce(statuses.period_start_date, statuses.opens_date), true))
