// Package render is Graphite's render API over Corral's metric store: it
// parses targets, evaluates them with carbonapi's expr engine and writes the
// results in Graphite's output formats.
package render

import (
	_ "github.com/go-graphite/carbonapi/expr" // registers nothing by itself; see functions.New
)
