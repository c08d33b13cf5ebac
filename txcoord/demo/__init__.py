"""The demo: two bank participants and transfers between them through a coordinator (`txc demo`)."""
