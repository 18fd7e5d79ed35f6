"""Pure logic for booking Stripe payments into QuickBooks: no I/O, no clocks, no Temporal.

`model` holds the value objects that travel between activities and workflows, `ids` tells Stripe ids apart,
`matching` decides which QuickBooks invoice a payment settles, and `posting` turns that decision into a
ReceivePaymentAdd, reads QuickBooks' answer back and checks the invoice balance moved as planned. Keeping it
pure is what lets every rule here be tested in milliseconds and reused by the workflow, the backfill and the
CLI alike.
"""
