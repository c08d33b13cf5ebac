"""What both transaction modes of the coordinator run on (TCC in ``txcoord.tcc``, sagas in ``txcoord.saga``):
the set of gids driven here, ownership by lease and the loop that claims and renews it, the statements that
claim, renew and record events, the store protocol both code against, the retry policy, branch signing, calling
participants through the registry, and how a failed operation is answered."""
