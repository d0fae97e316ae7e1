"""shopguard: real-time detection of abnormal e-commerce user behaviour (Kafka, PyFlink, ONNX)."""

__version__ = "0.1.0"
