"""The demo's user code, written only against the public ``sdk``: a bank participant (``demo.bank``) and the
caller that moves money between two banks (``demo.transfers``). ``txc demo`` starts and runs them."""
