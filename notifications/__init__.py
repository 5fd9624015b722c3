"""The notification service: it subscribes to billing's `invoice.issued` and emails the invoice."""
