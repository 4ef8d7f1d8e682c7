"""/metrics' exposition over the workers' files, whatever state a worker left its file in."""

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from ops import metrics


def test_a_file_a_worker_was_still_creating_hides_no_other_worker(tmp_path, monkeypatch):
    # prometheus_client creates a worker's file before it sizes it: a worker killed in that
    # moment leaves a file of 0 bytes behind for good, named after a pid that never returns.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = MmapedDict(str(tmp_path / "gauge_livesum_101.db"))
    key = mmap_key("dashboard_boards_connected", "dashboard_boards_connected", [], [], "")
    live.write_value(key, 7.0, 0.0)
    live.close()
    (tmp_path / "counter_102.db").touch()
    body, _ = metrics.exposition({})
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    assert [sample.value for sample in families["dashboard_boards_connected"].samples] == [7.0]
