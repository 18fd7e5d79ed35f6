"""ml-connector: QuickBooks Desktop ⇄ Stripe, through the QuickBooks Web Connector and Temporal."""

__version__ = "0.1.0"
