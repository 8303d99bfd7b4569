"""Recording plans in the outbox and sending them now (record), showing what would be sent
(preview), the delivery history and putting deliveries back (history), re-planning an event
with today's configuration (replan)."""
