"""Read-only reports and KPIs; owns no write path (a later issue)."""
