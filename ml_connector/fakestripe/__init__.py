"""A faithful, stateful fake of the parts of Stripe's API that ml-connector uses.

The real ``stripe`` SDK talks to it over HTTP, unchanged:
``stripe.StripeClient(key, base_addresses={"api": server.url})``. See ``app.py`` for the test controls
under ``/_fake/`` and ``api.py`` for the request pipeline (auth, faults, rate limit, idempotency).
"""

from ml_connector.fakestripe.api import ApiRequest, ApiResponse, FakeStripe
from ml_connector.fakestripe.app import create_app
from ml_connector.fakestripe.server import FakeStripeServer
from ml_connector.fakestripe.store import API_VERSION
from ml_connector.fakestripe.webhooks import DeliveryConfig, signature_header

__all__ = [
    "API_VERSION",
    "ApiRequest",
    "ApiResponse",
    "DeliveryConfig",
    "FakeStripe",
    "FakeStripeServer",
    "create_app",
    "signature_header",
]
