-- Run once by the bundled PostgreSQL (docker-compose.yml) when its volume is empty: the
-- partnerops warehouse gets a database of its own next to Airflow's metadata database
-- (`airflow`, created by POSTGRES_DB). A managed server needs the same: see docs/deploy.md.
create database partnerops;
