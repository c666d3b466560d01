"""Web: the HTTP services (the live preview for editors; the subscribers' service)."""
