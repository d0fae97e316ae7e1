"""The vectorised model input is batch_features, bit for bit, on any batch of windows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopguard.bench.workload import bench_events
from shopguard.udfs.encoding import CODE_BYTES, batch_features, encode_user_events
from shopguard.udfs.model_input import model_input

_windows = st.lists(
    st.integers(0, 40).flatmap(lambda codes: st.binary(min_size=codes * CODE_BYTES, max_size=codes * CODE_BYTES)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_windows, st.integers(1, 34))
def test_any_codes_at_any_window_length_give_the_same_bits(windows, history_length):
    expected = batch_features(windows, history_length)
    got = model_input(windows, history_length)
    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape and got.tobytes() == expected.tobytes()


def test_the_windows_of_real_traffic_give_the_same_bits():
    events = bench_events(3000, 40)
    windows = []
    for user in {e.user_id for e in events}:
        windows += encode_user_events([e for e in events if e.user_id == user], 32)
    assert model_input(windows, 32).tobytes() == batch_features(windows, 32).tobytes()
    assert model_input([], 32).shape == batch_features([], 32).shape
