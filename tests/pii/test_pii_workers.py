"""How scrubbing workers start (tasks/pii/workers.py)."""


def test_workers_fork_only_without_threads_and_with_torch_blocked(monkeypatch):
    # A fork copies the parent's threads mid-state (Prefect's) and torch's pools do not survive one.
    import sys
    import threading

    from tasks.pii.workers import may_fork

    monkeypatch.setitem(sys.modules, "torch", None)
    assert may_fork() == (threading.active_count() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not may_fork()
    finally:
        stop.set()
        t.join()
    monkeypatch.delitem(sys.modules, "torch")
    assert not may_fork()
