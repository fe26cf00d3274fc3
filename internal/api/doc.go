// Package api holds Corral's wire and domain types and their validation. It is
// the leaf of the import graph: every other package may import it, and it imports
// only the standard library.
package api
