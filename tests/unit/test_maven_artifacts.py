"""Resolving jars with Maven: the pom we write, the stamp that skips Maven, the error without Maven."""

import pytest

from shopguard.local.maven_artifacts import ArtifactError, pom_for, resolve_artifacts


def test_the_pom_lists_exactly_the_coordinates():
    pom = pom_for(["org.apache.kafka:kafka_2.13:4.2.0", "org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2"])
    assert pom.count("<dependency>") == 2
    assert "<artifactId>flink-sql-connector-kafka</artifactId><version>5.0.0-2.2</version>" in pom


def test_a_malformed_coordinate_is_named():
    with pytest.raises(ArtifactError, match="'kafka' is not a Maven coordinate"):
        pom_for(["kafka"])


def test_without_maven_the_error_says_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ArtifactError, match=r"mvn not found on PATH: install Maven"):
        resolve_artifacts("x", ["g:a:1"], tmp_path)


def test_a_stamped_resolution_does_not_run_maven_again(tmp_path, monkeypatch):
    lib = tmp_path / "jars" / "x" / "lib"
    lib.mkdir(parents=True)
    (lib / "a-1.jar").write_bytes(b"jar")
    (tmp_path / "jars" / "x" / "resolved.txt").write_text("g:a:1\ntransitive=True\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # Maven would fail: it must not be asked
    assert resolve_artifacts("x", ["g:a:1"], tmp_path) == [lib / "a-1.jar"]
    with pytest.raises(ArtifactError):  # other coordinates do need Maven
        resolve_artifacts("x", ["g:a:2"], tmp_path)
