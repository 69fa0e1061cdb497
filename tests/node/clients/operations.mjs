// The operations both client scenarios run (plain strings: each client parses them its way).
export const SESSIONS = `
query Sessions($filter: SessionFilterInput, $first: Int, $after: String, $last: Int, $before: String) {
  sessions(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges {
      cursor
      node {
        id
        status
        createdAt
        user { id }
        userAgent { browserName }
        extras { __typename ... on ZitadelSessionExtras { sequence } }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

// What the list above already holds of a session, through `node` and its `Node` fragment.
export const NODE = `
query Node($id: ID!) { node(id: $id) { id ... on Session { status createdAt } } }`;

// One field more than the list holds: from the network, merged into the cached UserAgent.
export const NODE_AGENT = `
query NodeAgent($id: ID!) { node(id: $id) { id ... on Session { userAgent { osName } } } }`;

export const REVOKE = `
mutation Revoke($id: ID!) {
  revokeSession(id: $id) {
    __typename
    ... on SessionRevoked { id session { id status } }
    ... on SessionNotFound { id message }
    ... on RevokeRefused { id message }
  }
}`;

export const REVOKE_USER = `
mutation RevokeUser($userId: ID!) {
  revokeUserSessions(userId: $userId) { userId revokedCount sessions { id status } }
}`;

// The account page: where the caller is signed in, at every provider, this session marked.
export const ACCOUNT = `
query Account {
  viewer {
    person { id }
    currentSession { id }
    sessions(first: 100) {
      totalCount
      edges { cursor node { id provider status current userAgent { browserName osName } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

// Every ended session comes back by id with its ended status: the page follows by itself.
export const SIGN_OUT_OTHERS = `
mutation SignOutOthers {
  signOutOtherSessions {
    ended { id status }
    failed { sessionId provider code message }
  }
}`;
