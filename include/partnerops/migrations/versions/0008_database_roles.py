"""Database roles of least privilege, and the reporting logins' scopes for row-level security.

Roles (names from `partnerops.roles`, prefix `PARTNEROPS_DB_ROLE_PREFIX`, default `partnerops_`):
- loader: its raw and quarantine tables: select and insert, update where a load records its
  outcome, delete only the quarantine rows a reload replaces; nothing in the dbt schemas;
- transformer: reads raw; owns the dbt schemas (staging, intermediate, marts, snapshots,
  reference) and may create the schemas dbt asks for;
- alerts: reads marts, reads and writes the alert ledger (raw.alerts, alert_deliveries,
  alert_digests);
- reader: reads marts and snapshots;
- migrator: owns the raw schema and its tables.

Tables dbt creates later are readable by reader and alerts through default privileges. The
loader creates an evidence table's missing monthly partition through the migrator's function
`raw.create_monthly_partition`.
Roles are created NOLOGIN; `partnerops db upgrade` gives LOGIN to those whose password is
in the environment (`partnerops.roles.sync_role_logins`).

Row-level security: `access.reporting_scopes` maps a reporting login to an account manager
or a group; `access.visible_keys` says which agreements, brands or groups the current role
may see (null: all). dbt's post-hook `apply_row_security` puts the policy on each mart as it
is (re)built.

Run by a superuser, or by a login with CREATEROLE (which is then made a member of the
migrator and transformer roles, to hand them their objects).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

from partnerops.migrations import VERSION_SCHEMA
from partnerops.roles import ROLE_KEYS, role_name

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DBT_SCHEMAS = ("staging", "intermediate", "marts", "snapshots", "reference")

#: The loader's tables and what it does to each beyond select and insert.
LOADER_TABLES: dict[str, tuple[str, ...]] = {
    "raw.intake_runs": ("update",),
    "raw.intake_files": (),
    "raw.agreement_versions": ("update",),
    "raw.commitments": (),
    "raw.quarantined_documents": ("update",),
    "raw.quarantine_reasons": (),
    "raw.business_calendar": ("update",),
    "raw.evidence_loads": ("update",),
    "raw.evidence_quarantine": ("delete",),
    "raw.orders": (),
    "raw.shipments": (),
    "raw.campaign_executions": (),
    "raw.channel_listings": (),
    "raw.data_deliveries": (),
    "raw.attestations": (),
    "raw.commitment_decisions": (),
}
ALERT_TABLES = ("raw.alerts", "raw.alert_deliveries", "raw.alert_digests")


def _create_role(role: str) -> str:
    # Guarded and race-safe: another database's migration may create the same role at the same moment.
    return f"""
    do $$ begin
        if not exists (select from pg_roles where rolname = '{role}') then
            create role "{role}" nologin;
        end if;
    exception when duplicate_object or unique_violation then null;
    end $$;"""


def _give_schema(schema: str, owner: str) -> str:
    """The schema and every relation in it owned by `owner`."""
    return f"""
    create schema if not exists {schema};
    alter schema {schema} owner to "{owner}";
    do $$ declare r record; begin
        for r in select c.relname, c.relkind from pg_class c
                  where c.relnamespace = '{schema}'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
        loop
            execute 'alter ' || case r.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                               when 'f' then 'foreign table' else 'table' end
                    || ' {schema}.' || quote_ident(r.relname) || ' owner to "{owner}"';
        end loop;
    end $$;"""


def upgrade() -> None:
    roles = {key: role_name(key) for key in ROLE_KEYS}
    loader, transformer, alerts, reader, migrator = (roles[k] for k in ROLE_KEYS)
    statements = [_create_role(r) for r in roles.values()]
    statements.append(f"""
    do $$ begin
        if not (select rolsuper from pg_roles where rolname = current_user) then
            grant "{migrator}", "{transformer}" to current_user;
        end if;
    end $$;""")
    # The raw schema: the migrator's. Tables the migrations add later are readable by dbt.
    statements.append(_give_schema("raw", migrator))
    statements.append(f"""
    revoke all on schema raw from public;
    grant usage on schema raw to "{loader}", "{transformer}", "{alerts}";
    grant select on all tables in schema raw to "{transformer}";
    alter default privileges in schema raw grant select on tables to "{transformer}";
    alter default privileges for role "{migrator}" in schema raw grant select on tables to "{transformer}";
    grant usage on all sequences in schema raw to "{loader}", "{alerts}";
    grant create on database {_current_database()} to "{transformer}";
    """)
    # The loader may not create tables; a load that finds a month without its partition asks
    # the migrator's function for it (`partnerops.evidence.load.ensure_partitions`).
    statements.append(f"""
    create function raw.create_monthly_partition(parent regclass, month date) returns text
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
    declare
        lower date := date_trunc('month', month)::date;
        name text;
    begin
        if not exists (select from pg_class where oid = parent and relkind = 'p'
                                                and relnamespace = 'raw'::regnamespace) then
            raise exception using message = parent::text || ' is not a partitioned table of the raw schema',
                                  errcode = 'insufficient_privilege';
        end if;
        name := (select relname from pg_class where oid = parent) || '_p' || to_char(lower, 'YYYY_MM');
        execute 'create table if not exists raw.' || quote_ident(name) || ' partition of ' || parent::text
                || ' for values from (' || quote_literal(lower) || ') to ('
                || quote_literal((lower + interval '1 month')::date) || ')';
        return name;
    end
    $fn$;
    alter function raw.create_monthly_partition(regclass, date) owner to "{migrator}";
    revoke all on function raw.create_monthly_partition(regclass, date) from public;
    grant execute on function raw.create_monthly_partition(regclass, date) to "{loader}";
    """)
    # Every component checks the schema revision before it works (`require_current`).
    statements.append(f"""
    do $$ begin
        if to_regclass('{VERSION_SCHEMA}.alembic_version') is not null then
            grant usage on schema {VERSION_SCHEMA} to "{loader}", "{transformer}", "{alerts}", "{reader}";
            grant select on {VERSION_SCHEMA}.alembic_version to "{loader}", "{transformer}", "{alerts}", "{reader}";
        end if;
    end $$;""")
    for table, extra in LOADER_TABLES.items():
        statements.append(f'grant {", ".join(("select", "insert", *extra))} on {table} to "{loader}";')
    for table in ALERT_TABLES:
        statements.append(f'grant select, insert, update on {table} to "{alerts}";')
    # The dbt schemas: the transformer's; marts (and the status history) readable by reader and alerts.
    for schema in DBT_SCHEMAS:
        statements.append(_give_schema(schema, transformer))
        statements.append(f"revoke all on schema {schema} from public;")
    for schema in ("marts", "snapshots"):
        statements.append(f"""
        grant usage on schema {schema} to "{reader}", "{alerts}";
        grant select on all tables in schema {schema} to "{reader}", "{alerts}";
        alter default privileges for role "{transformer}" in schema {schema}
            grant select on tables to "{reader}", "{alerts}";
        alter default privileges in schema {schema} grant select on tables to "{reader}", "{alerts}";
        """)
    # Row-level security: who sees which agreements.
    unrestricted = ", ".join(f"'{r}'" for r in (transformer, alerts, reader, migrator))
    statements.append(f"""
    create schema access;
    alter schema access owner to "{migrator}";
    create table access.reporting_scopes (
        login                 name not null,
        account_manager_email text check (account_manager_email = lower(account_manager_email)),
        group_id              text,
        granted_at            timestamptz not null default now(),
        check (num_nonnulls(account_manager_email, group_id) = 1)
    );
    create unique index reporting_scopes_key
        on access.reporting_scopes (login, coalesce(account_manager_email, ''), coalesce(group_id, ''));
    comment on table access.reporting_scopes is
        'Reporting logins and whose agreements they see in the marts: one account manager''s or one group''s.';
    alter table access.reporting_scopes owner to "{migrator}";

    -- The agreements, brands or groups (`key`) that role `viewer` may see, narrowed to the
    -- agreements of `account_manager` when that is given (the Partnerships view sets it for an
    -- account manager); null when nothing is hidden. A reporting login (a member of the reader
    -- role) sees the agreements of its scopes, none without one; the project's roles, superusers
    -- and a single login that owns everything see all. Security definer: it reads raw and the
    -- scopes, which the viewer may not.
    create function access.visible_keys(viewer name, account_manager text, key text) returns text[]
    language sql stable security definer set search_path = pg_catalog, pg_temp as $fn$
        with me as (
            select (viewer = any (array[{unrestricted}]::name[])
                    or (select rolsuper from pg_roles where rolname = viewer)
                    or not pg_has_role(viewer, '{reader}', 'member')) as sees_all,
                   nullif(lower(trim(account_manager)), '') as narrowed_to
        ),
        visible as (
            select v.agreement_id, v.brand_id, v.group_id
              from raw.agreement_versions v, me
             where v.is_current
               and (me.narrowed_to is null or lower(v.account_manager_email) = me.narrowed_to)
               and (me.sees_all or exists (
                   select from access.reporting_scopes s
                    where s.login = visible_keys.viewer
                      and (s.account_manager_email = lower(v.account_manager_email) or s.group_id = v.group_id)))
        )
        select case when (select sees_all and narrowed_to is null from me) then null
                    else coalesce(array_agg(distinct case key when 'agreement_id' then agreement_id
                                                              when 'brand_id' then brand_id
                                                              else group_id end), '{{}}') end
          from visible
    $fn$;
    alter function access.visible_keys(name, text, text) owner to "{migrator}";
    revoke all on function access.visible_keys(name, text, text) from public;
    grant usage on schema access to "{reader}", "{alerts}", "{transformer}";
    grant execute on function access.visible_keys(name, text, text) to "{reader}", "{alerts}", "{transformer}";
    """)
    # No % anywhere: the driver reads it as a placeholder even without parameters.
    op.get_bind().exec_driver_sql("\n".join(statements))


def _current_database() -> str:
    name = op.get_bind().exec_driver_sql("select current_database()").scalar()
    return '"' + name.replace('"', '""') + '"'


def downgrade() -> None:
    # The roles stay: they are the cluster's, and other databases may use them.
    roles = {key: role_name(key) for key in ROLE_KEYS}
    everyone = ", ".join(f'"{r}"' for r in roles.values())
    op.get_bind().exec_driver_sql(f"""
    drop schema access cascade;
    drop function raw.create_monthly_partition(regclass, date);
    revoke all on all tables in schema raw from {everyone};
    revoke all on all sequences in schema raw from {everyone};
    revoke all on schema raw from {everyone};
    alter default privileges in schema raw revoke select on tables from "{roles['transformer']}";
    revoke create on database {_current_database()} from "{roles['transformer']}";
    """)
