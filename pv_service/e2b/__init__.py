"""ICH E2B(R3) interchange: the operator's schema set, a hardened reader, and acknowledgements."""
