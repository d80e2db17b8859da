"""Task metrics: the receivers tasks.app connects to Celery's prerun/postrun signals count each task
by name and state and time it."""

from types import SimpleNamespace

from upstack.metrics import exporter, tasks


def test_a_task_run_is_counted_and_timed():
    metrics = exporter()
    assert metrics is not None  # the metrics extra is installed in the test venv
    task = SimpleNamespace(name="upstack.test_task")
    counted = metrics.TASKS.labels("upstack.test_task", "SUCCESS")
    before = counted._value.get()
    tasks.prerun(task_id="t-1")
    tasks.postrun(task_id="t-1", task=task, state="SUCCESS")
    assert counted._value.get() == before + 1
    assert "t-1" not in tasks._started
    samples = {s.name: s.value for m in metrics.TASK_SECONDS.collect() for s in m.samples
               if s.labels.get("task") == "upstack.test_task"}
    assert samples["upstack_task_seconds_count"] >= 1
