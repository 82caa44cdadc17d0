"""Health history: each domain's grade transitions, a daily rollup per domain, and a daily
rollup of the fleet per account and mode; bounded in size (see `record.py` for the rules)."""
