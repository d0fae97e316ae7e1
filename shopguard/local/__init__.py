"""The local toolkit: what runs on your machine around the job, never inside it.

An embedded Kafka broker (:mod:`.kafka_broker`), a Flink home and a session cluster on loopback
(:mod:`.flink_home`, :mod:`.flink_cluster`), the Maven jars they need (:mod:`.maven_artifacts`), starting
the job as a process (:mod:`.job_process`), and the Python Kafka clients that create topics, send events
and read alerts against any Kafka (:mod:`.topics`, :mod:`.producer`, :mod:`.alert_feed`, with
:mod:`.kafka_config_providers` for their secrets), and the demo (:mod:`.demo`, :mod:`.demo_traffic`).
The job (``jobs/``, ``udfs/``) never imports it; the command line and the benchmark do.
"""
