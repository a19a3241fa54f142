"""The stock ledger: the only writer of quantities (see stock/services/)."""
