"""The Web Connector's I/O: the SOAP service the gateway mounts and the durable qbXML request queue.

Everything here reads or writes the database; the decisions it carries out are made by the pure protocol code
in `ml_connector/qbwc/` (session rules, lifecycle tables, the SOAP codec), which never imports from here.

- `service.py`   — the eight QBWC SOAP methods: authenticate, hand out documents, store answers, close.
- `queue.py`     — `RequestQueue`: enqueue a request, lease a document to a session, store its answer, deliver.
- `recovery.py`  — carrying out a verdict on a row (requeue, fail, finish) and recovering lost documents.
- `requests.py`  — the queue's contract with activities and workflows: `QbRunInput`, `QbRunResult`, error kinds.
- `visibility.py` — requests that ended without an answer lately, for `ml-connector check` and the status page.
"""
