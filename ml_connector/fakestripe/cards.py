"""Stripe's documented test PaymentMethod tokens (``pm_card_visa`` …) and how each one behaves.

A token is not a PaymentMethod: Stripe turns it into a fresh ``pm_…`` object every time it is used,
which is what we do too. Declining cards fail at confirmation with the documented error code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str | None
    message: str
    param: str | None = None


@dataclass(frozen=True)
class CardSpec:
    token: str
    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None


_GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")

TEST_CARDS: dict[str, CardSpec] = {
    card.token: card
    for card in (
        CardSpec("pm_card_visa", "visa", "4242"),
        CardSpec("pm_card_visa_debit", "visa", "5556", funding="debit"),
        CardSpec("pm_card_mastercard", "mastercard", "4444"),
        CardSpec("pm_card_mastercard_debit", "mastercard", "8210", funding="debit"),
        CardSpec("pm_card_amex", "amex", "8431"),
        CardSpec("pm_card_discover", "discover", "1117"),
        CardSpec("pm_card_chargeDeclined", "visa", "0002", decline=_GENERIC),
        CardSpec(
            "pm_card_chargeDeclinedInsufficientFunds", "visa", "9995",
            decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
        ),
        CardSpec(
            "pm_card_chargeDeclinedFraudulent", "visa", "0019",
            decline=Decline("card_declined", "fraudulent", "Your card was declined."),
        ),
        CardSpec(
            "pm_card_chargeDeclinedExpiredCard", "visa", "0069",
            decline=Decline("expired_card", "expired_card", "Your card has expired.", param="exp_month"),
        ),
        CardSpec(
            "pm_card_chargeDeclinedIncorrectCvc", "visa", "0127",
            decline=Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.",
                            param="cvc"),
        ),
        CardSpec(
            "pm_card_chargeDeclinedProcessingError", "visa", "0119",
            decline=Decline("processing_error", "processing_error",
                            "An error occurred while processing your card. Try again in a little bit."),
        ),
    )
}
