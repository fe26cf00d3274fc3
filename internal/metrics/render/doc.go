// Package render is graphite-web's render API over Corral's metric store:
// /render parses targets, evaluates them with carbonapi's expr engine (all
// of its functions) over the name index, the tag index and a Fetcher, and
// writes the results as json, csv, raw, pickle, png or svg; /functions lists
// the functions as graphite-web does; /tags/... answers tag autocompletion
// and findSeries. The server mounts Handler's methods; nothing else imports
// it.
package render
