// Package pki is the cluster's certificate authority, together with the
// other small pieces of cryptography Corral needs: issuing and verifying
// node certificates, TLS configurations that trust only the cluster CA
// (or, on first contact, only a CA fingerprint taken from a join token),
// sealing secrets at rest with the cluster key, API and join tokens, and
// password hashes for web UI users. It is imported by server and agent.
//
// Everything here is a pure function of its inputs except for randomness
// (crypto/rand) and LoadOrCreateKey, which touches the file system; the
// current time is always passed in.
package pki
