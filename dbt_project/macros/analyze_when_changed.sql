{#
    A post-hook for the incremental tables that grow every run: ANALYZE the table when it has no
    statistics yet, or when more than `share` of its rows changed since they were gathered (the
    rule autovacuum follows, with its default 10 %). The incremental filters put their watermark
    in the SQL as a literal (macro incremental_watermark) so that the planner reads a day's rows
    through the index; without statistics it plans for a third of the table instead, and reads
    all of it. A server with autovacuum off, or one whose autovacuum has not come round yet
    after a large load, gathers none: the table sees to its own. PostgreSQL reports a
    transaction's changes after it commits, so a run analyzes for the changes of the runs
    before it. ANALYZE reads a sample (about 30,000 rows), not the table.
#}
{% macro analyze_when_changed(share=0.1) -%}
    do $analyze$
    begin
        if exists (
            select
            from pg_stat_user_tables
            where relid = '{{ this.schema }}.{{ this.identifier }}'::regclass
                and (
                    coalesce(last_analyze, last_autoanalyze) is null
                    or n_mod_since_analyze > 50 + {{ share }} * n_live_tup
                )
        ) then
            analyze {{ this.schema }}.{{ this.identifier }};
        end if;
    end
    $analyze$
{%- endmacro %}
