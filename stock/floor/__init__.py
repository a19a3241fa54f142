"""The clerk pages under ``/floor/`` (docs/floor.md).

- ``scanning``: what a scanned or typed text is (``scan_resolve`` over ``stock.selectors.code_lookup``),
  quantities, dates, reason codes, the floor's input hygiene; ``FloorError``;
- ``engine``: steps, values and state of a job, the ``Job`` base class and the job registry
  (``register_job``), decoding hidden fields, routing a scan to the step that takes it;
- ``jobs``: the built-in jobs (receive, move, pick, scrap / adjust), registered by ``StockConfig.ready``;
- ``job_page``: the job page's request loop (check, post, POST/redirect/GET, result banner);
- ``pages``: sign-in, warehouse chooser, home, look-up, label sheets;
- ``labels``: Code 128 rendering of item and bin labels.
"""
