"""The benchmark (installed as ``shopguard.bench``): ``shopguard bench`` and ``shopguard bench --sweep``.

:mod:`.benchmark` plans and reports a run; :mod:`.job` runs the detection job against private topics,
:mod:`.workload` makes its events, :mod:`.baselines` measures the same work without Flink, :mod:`.profile`
samples where the job's time goes, :mod:`.latency_sweep` draws the latency curve, and
:mod:`.pipeline_floor` with :mod:`.pipeline_floor_job` is the floor: the job's graph with trivial functions.
Nothing on the serving side imports it.
"""
