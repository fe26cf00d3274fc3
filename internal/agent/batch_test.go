package agent

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"corral/internal/api"
)

// TestReportBatchJSON: the hand-written batch decodes to the same batch
// json.Marshal would send.
func TestReportBatchJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	reports := []api.Report{
		{Seq: 1, Type: "log", Time: at, Data: json.RawMessage(`[{"message":"a \"quoted\" \u00e9 line"}]`)},
		{Seq: 2, Type: "metrics", Time: at.Add(time.Second), Data: json.RawMessage(`[{"name":"x","value":1.5,"time":1}]`)},
		{Seq: 18446744073709551615, Type: "facts", Time: at, Data: json.RawMessage(`{"hostname":"h"}`)},
	}
	var got, want api.ReportBatch
	if err := json.Unmarshal(reportBatchJSON(reports), &got); err != nil {
		t.Fatalf("%v: %s", err, reportBatchJSON(reports))
	}
	b, _ := json.Marshal(api.ReportBatch{Reports: reports})
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i := range got.Reports {
		if !got.Reports[i].Time.Equal(want.Reports[i].Time) {
			t.Errorf("report %d time %v, want %v", i, got.Reports[i].Time, want.Reports[i].Time)
		}
		got.Reports[i].Time, want.Reports[i].Time = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if string(reportBatchJSON(nil)) != `{"reports":[]}` {
		t.Errorf("empty batch %s", reportBatchJSON(nil))
	}
}
