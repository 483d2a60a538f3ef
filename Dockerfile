# The partnerops image: Airflow's official image plus the project, pinned by constraints.txt.
# docker-compose.yml builds it; for Kubernetes push it and name it in deploy/helm/values.yaml.
# Layout (settings.AIRFLOW_PATH_KEYS in the compose environment): the code under /opt/airflow
# (dags/, plugins/, dbt_project/), runtime state under /opt/airflow/var (a shared volume).
FROM apache/airflow:3.3.2-python3.11

# The package first, so that editing a DAG does not re-install the dependencies.
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md /opt/airflow/partnerops-src/
COPY --chown=airflow:0 include /opt/airflow/partnerops-src/include
RUN pip install --no-cache-dir -c /opt/airflow/partnerops-src/constraints.txt /opt/airflow/partnerops-src

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
# dbt writes target/ and logs/ next to the project: owned by the airflow user.
COPY --chown=airflow:0 dbt_project /opt/airflow/dbt_project
# The mount point of the shared volume; a new named volume takes this owner.
RUN mkdir -p /opt/airflow/var

ENV PARTNEROPS_HOME=/opt/airflow \
    PARTNEROPS_DATA_DIR=/opt/airflow/var
