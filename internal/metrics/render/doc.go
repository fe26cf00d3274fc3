// Package render is graphite-web's render API over Corral's metric store:
// /render parses targets, evaluates them with carbonapi's expr engine (all
// of its functions) over the name index, the tag index and a Fetcher, and
// writes the results as json, csv, raw, pickle, png or svg; /functions lists
// the functions as graphite-web does; /tags/... answers tag autocompletion
// and findSeries. The server mounts Handler's methods; nothing else imports
// it.
//
// Wiring, in the composition root:
//
//	h, err := render.New(render.Options{Index: ix, Tags: tags, Fetcher: cache, Now: now, Logger: log})
//	mux.HandleFunc("GET /render", h.Render)  // and POST, and "/render/"
//	mux.HandleFunc("POST /render", h.Render)
//	mux.HandleFunc("GET /functions", h.Functions)
//	mux.HandleFunc("GET /functions/{name}", h.Functions)
//	mux.HandleFunc("GET /tags", h.Tags)
//	mux.HandleFunc("GET /tags/autoComplete/tags", h.TagsAutoCompleteTags)
//	mux.HandleFunc("GET /tags/autoComplete/values", h.TagsAutoCompleteValues)
//	mux.HandleFunc("GET /tags/findSeries", h.TagsFindSeries)
//
// Where carbonapi v0.18 gives other results than graphite-web for the same
// data, this package registers its own version of the function (see
// overrides.go); carbonapi's registry is process-wide, so that happens once
// per process.
package render
