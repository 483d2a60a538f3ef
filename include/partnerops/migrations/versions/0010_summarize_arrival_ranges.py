"""The loader asks the migrator's function to summarize the new BRIN ranges on arrival.

A BRIN index's new page ranges are summarized only when VACUUM gets to the table, and a range not
summarized matches every query: until then a day's roll-up read the whole month. The loader
summarizes them after each batch (`partnerops.evidence.load.summarize_brin_indexes`), but only
an index's owner may, and the loader owns no table (migration 0008). So it asks this function,
which runs as the migrator, like `raw.create_monthly_partition`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

from partnerops.roles import role_name

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"""
    create function raw.summarize_new_brin_ranges(parent regclass) returns bigint
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
    declare
        summarized bigint := 0;
        idx regclass;
    begin
        if not exists (select from pg_class where oid = parent and relkind = 'p'
                                                and relnamespace = 'raw'::regnamespace) then
            raise exception using message = parent::text || ' is not a partitioned table of the raw schema',
                                  errcode = 'insufficient_privilege';
        end if;
        for idx in
            select i.indexrelid::regclass
              from pg_inherits p
              join pg_index i on i.indrelid = p.inhrelid
              join pg_class c on c.oid = i.indexrelid
              join pg_am am on am.oid = c.relam
             where p.inhparent = parent and am.amname = 'brin'
        loop
            summarized := summarized + brin_summarize_new_values(idx);
        end loop;
        return summarized;
    end
    $fn$;
    alter function raw.summarize_new_brin_ranges(regclass) owner to "{role_name('migrator')}";
    revoke all on function raw.summarize_new_brin_ranges(regclass) from public;
    grant execute on function raw.summarize_new_brin_ranges(regclass) to "{role_name('loader')}";
    """)


def downgrade() -> None:
    op.execute("drop function raw.summarize_new_brin_ranges(regclass)")
