"""Programs the tests run in a process of their own, as a gevent worker runs: each is patched
before it imports anything else. `tests.servers.python_output` runs one."""
