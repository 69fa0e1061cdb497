"""The layers of one upstream call, each a small piece with one job (Endpoint.call composes them).

Outermost first, as httpx wraps a transport in its auth flow and its client's hooks:

    Breaker          may refuse at once (circuit open); owns the half-open probe; records
                     only the upstream's doing (transport faults open it)
    Telemetry        the span, the metrics, and the provider's health, for every outcome
    (decoding)       status -> gateway error, body -> JSON -> parse(); any failure of a
                     reader is UPSTREAM_BAD_RESPONSE
    Deadline         the request's deadline bounds everything below, waits included; a cut
                     is the upstream's fault only if it held the sent call `slow_call` s
    Retrying         reads again on connection errors, 429 and 502/503/504 (stamina:
                     jittered backoff, capped; Retry-After honoured if it fits)
    Authenticating   the credential's headers per attempt; one refresh after a 401
    Budget           each exchange takes one unit of the request's call budget
    ConcurrencyLimit a slot of the provider's limit, for the exchange only
    Transport        the exchange over the lean HTTP/1.1 client (http1.py; aiohttp's with
                     GATEWAY_FAST_PATH=false); transport failures become gateway errors

Why this order: the breaker refuses before anything is measured or spent; telemetry sees the
decoded outcome, so a bad body counts like any failure; the deadline encloses the retries and
their sleeps; retries sit above the budget and the slot, so every attempt is charged and no
slot is held while a retry sleeps; the credential is read per attempt (a token may be renewed
between them) before the budget is charged, so a missing one spends nothing.
"""
