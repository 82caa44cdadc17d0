"""`Idempotency-Key` on every POST (Stripe's semantics): see `middleware.py`."""
