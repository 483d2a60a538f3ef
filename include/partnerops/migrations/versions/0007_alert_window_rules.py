"""The alert ledger accepts the window warnings: `window_<n>pct` (e.g. `window_50pct`, `window_75pct`).

An open deliverable or quota instance is warned about once at each configured share of its
window (`partnerops.alerts.rules.window_warning`); the share is part of the rule, so each
warning has its own alert key and goes out once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FIXED_RULES = ("'at_risk', 'breached', 'due_in_7_days', 'due_today', 'breach_open_7_days', "
                "'burn_rate', 'escalated'")


def upgrade() -> None:
    op.execute(f"""
    alter table raw.alerts drop constraint alerts_rule_check;
    alter table raw.alerts add constraint alerts_rule_check
        check (rule in ({_FIXED_RULES}) or rule ~ '^window_[1-9][0-9]?pct$');
    """)


def downgrade() -> None:
    op.execute(f"""
    delete from raw.alert_deliveries where alert_id in (select alert_id from raw.alerts where rule ~ '^window_');
    delete from raw.alerts where rule ~ '^window_';
    alter table raw.alerts drop constraint alerts_rule_check;
    alter table raw.alerts add constraint alerts_rule_check check (rule in ({_FIXED_RULES}));
    """)
