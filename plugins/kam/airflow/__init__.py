"""Airflow glue: what the DAG files declare alike (``dag_defaults``), the task bodies
(``tasks``), the DAG runner inside one Airflow process (``dagrun``) and ``kam run``'s driver
of it (``orchestrate``). Light on purpose: the DAG files import ``dag_defaults`` at parse time."""
