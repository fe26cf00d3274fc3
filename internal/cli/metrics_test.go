package cli

import "testing"

func fp(v float64) *float64 { return &v }

func TestSparkline(t *testing.T) {
	tests := []struct {
		name  string
		vals  []*float64
		width int
		want  string
	}{
		{"rising", []*float64{fp(0), fp(1), fp(2), fp(3), fp(4), fp(5), fp(6), fp(7)}, 40, "▁▂▃▄▅▆▇█"},
		{"flat", []*float64{fp(5), fp(5), fp(5)}, 40, "▅▅▅"},
		{"gap", []*float64{fp(0), nil, fp(7)}, 40, "▁ █"},
		{"trailing nulls trimmed", []*float64{fp(0), fp(7), nil}, 40, "▁█"},
		// 8 points into 4 characters: averages 0.5, 2.5, 4.5, 6.5 → ▁ ▃ ▆ █
		{"averaged", []*float64{fp(0), fp(1), fp(2), fp(3), fp(4), fp(5), fp(6), fp(7)}, 4, "▁▃▆█"},
		{"empty", nil, 40, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dps := make([][2]*float64, len(tt.vals))
			for i, v := range tt.vals {
				dps[i] = [2]*float64{v, fp(float64(i * 10))}
			}
			if got := sparkline(dps, tt.width); got != tt.want {
				t.Errorf("sparkline = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	dps := [][2]*float64{{fp(4), fp(0)}, {nil, fp(10)}, {fp(-2), fp(20)}, {fp(1), fp(30)}}
	st := summarize(dps)
	if st.n != 3 || st.min != -2 || st.max != 4 || st.avg != 1 || st.last != 1 {
		t.Errorf("summarize = %+v, want n=3 min=-2 max=4 avg=1 last=1", st)
	}
	if st := summarize(nil); st.n != 0 || num(st.min, st.n) != "-" {
		t.Errorf("empty summary = %+v", st)
	}
}
