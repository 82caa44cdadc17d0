"""Rate limits: token buckets per API key and per client address for failed authentication,
shared between processes through PostgreSQL (see `buckets.py`)."""
