// Package egress decides which network addresses the server may connect to
// on a user's behalf: storage endpoints, Entra ID authorities of
// user-supplied service principals, event queues and webhook targets. Each
// of them is a URL a signed-in user typed, so each is a way to make the
// server reach into its own network unless every connection is checked.
//
// The check runs when a connection is dialled, on the addresses the name
// resolved to, and the connection is made to the checked address itself:
// a DNS answer that changes between check and use (rebinding), or a redirect
// to another host, meets the same check. The cloud instance-metadata range
// is never reachable; loopback and private networks only when the operator
// allows them (private endpoints, emulators). Behind the operator's proxy
// (HTTPS_PROXY, NO_PROXY) the same check runs first, and the proxy is asked
// for a tunnel to the checked address, never to the name.
//
// It imports only the standard library.
package egress
