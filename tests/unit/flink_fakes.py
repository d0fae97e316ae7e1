"""Stand-ins for what Flink hands a Python function in ``open()``: metrics and one value state.

Enough to call a function's ``open`` and ``process_element`` directly in a unit test; the integration
tests run the same functions in a real mini-cluster.
"""


class Counter:
    def __init__(self):
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class Metrics:
    """Counters by name. A plain group (``shopguard``) adds nothing to its counters' names; a key-value group
    (``add_group("state", kind)``) prefixes its key, as Flink's Prometheus reporter names them (the value: a label)."""

    def __init__(self, counters: dict[str, Counter] | None = None, prefix: str = ""):
        self.counters: dict[str, Counter] = {} if counters is None else counters
        self.prefix = prefix

    def add_group(self, name: str, extra: str | None = None) -> "Metrics":
        return self if extra is None else Metrics(self.counters, f"{self.prefix}{name}_")

    def counter(self, name: str) -> Counter:
        return self.counters.setdefault(self.prefix + name, Counter())


class ValueState:
    def __init__(self):
        self.stored = None

    def value(self):
        return self.stored

    def update(self, value) -> None:
        self.stored = value


class Runtime:
    def __init__(self):
        self.metrics, self.state = Metrics(), ValueState()

    def get_metrics_group(self) -> Metrics:
        return self.metrics

    def get_state(self, descriptor) -> ValueState:
        return self.state


class NamedStates:
    """A runtime context whose value states are kept apart by name (one key), for a step with several states."""

    def __init__(self):
        self.metrics, self.states = Metrics(), {}

    def get_metrics_group(self) -> Metrics:
        return self.metrics

    def get_state(self, descriptor) -> ValueState:
        return self.states.setdefault(descriptor.get_name(), ValueState())
