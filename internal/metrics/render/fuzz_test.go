package render

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRender feeds arbitrary query strings to /render: the handler must
// answer (200, 400 or 500 with a message) and never panic.
func FuzzRender(f *testing.F) {
	for _, q := range []string{
		"target=sumSeries(a.b.c*)&format=json&from=-1h",
		"target=movingAverage(ramp.x,'30s')&format=json&maxDataPoints=3&from=1699999000&until=1700000100",
		"target=seriesByTag('name=cpu','dc=~e.*')&format=raw&noNullPoints",
		"target=summarize(a.b.c1,'1h','max')&format=csv&tz=Europe/Berlin&from=20231110&until=now",
		"target=groupByNode(servers.*.cpu.*,1,'sum')&format=pickle&jsonp=cb",
		"target=asPercent(a.b.c1,sumSeries(a.b.c*))&format=json&from=14:30_20231110",
		"target=aliasByNode(timeShift(a.b.c1,'1d'),0)&format=json&until=-1s",
		"target=divideSeries(a.b.c1,a.b.c{2,3})&format=json",
		"target=highestMax(a.b.c*,-1)&format=json",
		"target=perSecond(counter.x)&target=keepLastValue(a.b.c1,2)&format=json&maxDataPoints=1",
		"target=a.b.c1&format=png&width=10&height=abc",
		"target=%28%28%28&format=json",
		"target=seriesByTag()&format=json",
		"from=now-1mon&until=noon+yesterday&target=integral(a.b.c2)&format=json",
	} {
		f.Add(q)
	}
	h := newTestHandler(f)
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest(http.MethodGet, "/render", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.Render(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusInternalServerError:
			if rec.Body.Len() == 0 {
				t.Fatalf("%q: status %d without a message", q, rec.Code)
			}
		default:
			t.Fatalf("%q: status %d", q, rec.Code)
		}
	})
}
