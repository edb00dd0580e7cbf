"""Airflow's processes that fork task processes preload the ingest steps; the others do not pay for them."""

import os
import subprocess
import sys

import pytest

from config.settings import REPO_ROOT
from reelflow.container import AIRFLOW_CONFIG_DIR, airflow_env
from reelflow.stack import Stack

PROBE = ("import sys; sys.argv = {argv!r}; import airflow_local_settings; "
         "print('jobs.ingest' in sys.modules, 'tensorflow' in sys.modules)")


@pytest.mark.parametrize("argv,preloaded", [
    (["airflow", "scheduler"], True),
    (["airflow", "celery", "worker", "-q", "gpu"], True),
    (["airflow", "api-server"], False),
    (["airflow", "dag-processor"], False),
    (["airflow", "triggerer"], False),
])
def test_only_the_processes_that_fork_tasks_preload_the_ingest_steps(argv, preloaded):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(AIRFLOW_CONFIG_DIR), str(REPO_ROOT)])}
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.split() == [str(preloaded), "False"]  # TensorFlow stays lazy either way


def test_the_stack_and_the_containers_put_it_on_airflow_s_path(tmp_path, settings):
    for env in (Stack(settings.model_copy(update={"home": tmp_path})).airflow_env(),
                airflow_env(settings, {"PYTHONPATH": "/elsewhere"})):
        assert env["PYTHONPATH"].split(os.pathsep)[0] == str(AIRFLOW_CONFIG_DIR)
    assert airflow_env(settings, {"PYTHONPATH": "/elsewhere"})["PYTHONPATH"].endswith(os.pathsep + "/elsewhere")
    assert (AIRFLOW_CONFIG_DIR / "airflow_local_settings.py").is_file()
