"""Bulk import and export of master data (docs/imports.md).

- ``reading``: open a messy CSV/XLSX as a stream of rows (format, encoding, delimiter).
- ``cells``: parse one cell (numbers, yes/no, dates, choices) with plain-words errors.
- ``runner``: validate every row, write in batches in one transaction, all or nothing.
- ``items``, ``categories``, ``locations``: columns, the per-row parser the admin's resources
  and the commands share, the batched writers, the export rows. The items' parts are modules
  of their own, re-exported by ``items`` (which keeps the job, ``ItemsJob``): ``item_rows``
  (columns, references, the per-row parser, cross-row checks), ``item_checks`` (against the
  item as it is now), ``item_batches`` (a batch's lookups and its one write statement),
  ``item_export`` (the export rows).
- ``bulk``: batched inserts and updates with their history records (one pipelined statement per
  batch on PostgreSQL).
- ``writing``: CSV and XLSX export with formula neutralisation.
- ``command``: the shape of the ``import_*``/``export_*`` management commands.
"""
