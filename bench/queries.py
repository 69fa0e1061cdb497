"""What each target is asked: the per-user query, the floor's request and the full-page query.

The peer's queries, and the other workloads, are in bench/workloads.py.
"""

from __future__ import annotations

import json
from typing import Any

# One user's sessions from all four providers, as issue 5 words it.
GATEWAY_USER_QUERY = """
query UserSessions($users: [ProviderUserInput!]!) {
  sessions(first: 50, filter: {users: $users}) {
    edges { node { id provider createdAt status userAgent { browserName osName } } }
  }
}
"""

# Every field of a session, nested ones included: what a session detail view would ask.
FULL_PAGE_QUERY = """
query FullPage($after: String) {
  sessions(first: 100, after: $after) {
    totalCount
    missingProviders
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        ...Full
        parent { ...Brief }
        children { ...Brief }
      }
    }
  }
}

fragment Brief on Session { id provider nativeId createdAt status }

fragment Full on Session {
  id provider nativeId status createdAt updatedAt lastSeenAt expiresAt tokenExpiresAt
  remoteAddress
  user { id provider nativeId loginName displayName organizationId }
  userAgent {
    raw ip fingerprintId description browserName browserVersion osName osVersion deviceName
    deviceType
  }
  factors {
    user { verifiedAt }
    password { verifiedAt }
    webAuthN { verifiedAt userVerified }
    intent { verifiedAt }
    totp { verifiedAt }
    otpSms { verifiedAt }
    otpEmail { verifiedAt }
    recoveryCode { verifiedAt }
  }
  metadata { key valueBase64 text }
  extras {
    __typename
    ... on PrivxSessionExtras { sessionType sourceId domain username current loggedOut }
    ... on PrefactorSessionExtras {
      status prefactorSessionType: sessionType title accountId domainId poolId deviceId canRevoke
      firstSeen { ...Seen }
      lastSeen { ...Seen }
    }
    ... on ZitadelSessionExtras { sequence headers { name values } }
    ... on HyperIdSessionExtras {
      hostName identityProviderId restrictToSiteId protectionLevel requireConfirmation
      isOneShot deviceTypeCode osTypeCode
    }
  }
  authorizations(first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        kind id siteName siteDomain appHardwareName appUserName scopeId createdAt expiresAt
      }
    }
  }
}

fragment Seen on Interaction {
  at remoteIp userAgent asn city countryCode regionCode timezone ja4Fingerprint
}
"""


def _compact(query: str) -> str:
    return " ".join(query.split())


def gateway_body(user: dict[str, str], query: str = GATEWAY_USER_QUERY) -> dict[str, Any]:
    """The per-user GraphQL request for the gateway (`query` takes `$users`)."""
    users = [{"provider": provider, "nativeId": native} for provider, native in user.items()]
    return {"query": _compact(query), "variables": {"users": users}}


def sessions_in(target: str, response: dict[str, Any]) -> dict[str, int]:
    """How many sessions of each provider a per-user answer holds; raises on GraphQL errors."""
    if response.get("errors"):
        raise ValueError(f"{target} answered errors: {json.dumps(response['errors'])[:500]}")
    data = response["data"]
    if target == "peer":  # the aliases of bench/workloads.py's per-user peer query
        return {
            "PRIVX": len(data["privx"]["items"]),
            "PREFACTOR": len(data["prefactor"]["summaries"]),
            "ZITADEL": len(data["zitadel"].get("sessions") or []),
            "HYPERID": len(data["hyperid"]["sessions"]),
        }
    counts: dict[str, int] = {}
    for edge in data["sessions"]["edges"]:
        provider = edge["node"]["provider"]
        counts[provider] = counts.get(provider, 0) + 1
    return counts
