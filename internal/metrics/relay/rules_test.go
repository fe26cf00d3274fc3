package relay

import (
	"reflect"
	"strings"
	"testing"
)

const rulesConf = `# carbon relay rules
[collectd]
pattern = ^collectd\.
destinations = 10.0.0.1:2004:a, 10.0.0.2:2004:b
continue = true

; the web tier
[web]
pattern: servers\.WEB\d+
destinations = 10.0.0.3:2004

[everything]
default = true
destinations = 10.0.0.9:2004,
  10.0.0.1:2004:a

[disabled]
default = false
destinations = 10.0.0.8:2004
`

func TestParseRules(t *testing.T) {
	rules, err := ParseRules(strings.NewReader(rulesConf), "relay-rules.conf")
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Name, Pattern string
		Dests         []string
		Continue      bool
	}
	var got []view
	for _, r := range rules {
		p := "<default>"
		if r.Pattern != nil {
			p = r.Pattern.String()
		}
		got = append(got, view{r.Name, p, r.Destinations, r.Continue})
	}
	want := []view{
		{"collectd", `(?i)^collectd\.`, []string{"10.0.0.1:2004:a", "10.0.0.2:2004:b"}, true},
		{"web", `(?i)servers\.WEB\d+`, []string{"10.0.0.3:2004"}, false},
		{"everything", "<default>", []string{"10.0.0.9:2004", "10.0.0.1:2004:a"}, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseRules =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRoute(t *testing.T) {
	rules, err := ParseRules(strings.NewReader(rulesConf), "relay-rules.conf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []string
	}{
		// collectd continues to the default rule; 10.0.0.1:2004:a is in both, once.
		{"collectd.host1.cpu", []string{"10.0.0.1:2004:a", "10.0.0.2:2004:b", "10.0.0.9:2004"}},
		// Case-insensitive and unanchored, as carbon's re.search with re.I.
		{"prod.servers.web12.load", []string{"10.0.0.3:2004"}},
		{"servers.Web3.load", []string{"10.0.0.3:2004"}},
		// No pattern matches: the default rule, even though it is not last in the file.
		{"servers.db1.load", []string{"10.0.0.9:2004", "10.0.0.1:2004:a"}},
		{"xcollectd.cpu", []string{"10.0.0.9:2004", "10.0.0.1:2004:a"}},
	}
	for _, tt := range tests {
		if got := Route(rules, tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Route(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := Route(nil, "a"); got != nil {
		t.Errorf("Route(no rules) = %v, want nil", got)
	}
}

func TestParseRulesErrors(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"no default", "[a]\npattern = x\ndestinations = h:1\n", "r.conf: no default rule"},
		{"no destinations", "[a]\n\npattern = x\n[d]\ndefault = true\ndestinations = h:1\n", "r.conf:1: section [a] has no destinations"},
		{"bad regexp", "[d]\ndefault = true\ndestinations = h:1\n[a]\ndestinations = h:1\npattern = (x\n", "r.conf:6: section [a]: pattern: error parsing regexp"},
		{"bad destination", "[d]\ndefault = true\ndestinations = h:1, nohost\n", `r.conf:3: section [d]: destination "nohost": want host:port[:instance]`},
		{"bad port", "[d]\ndefault = true\ndestinations = h:http\n", `r.conf:3: section [d]: destination "h:http": port "http"`},
		{"both", "[d]\npattern = x\ndefault = true\ndestinations = h:1\n", "r.conf:3: section [d] has both pattern and default"},
		{"two defaults", "[d]\ndefault = true\ndestinations = h:1\n[e]\ndefault = yes\ndestinations = h:2\n", "r.conf:5: section [e] is a second default rule ([d] is one)"},
		{"bad bool", "[d]\ndefault = sure\ndestinations = h:1\n", `r.conf:2: section [d]: default: "sure" is not a boolean`},
		{"bad continue", "[d]\ndefault = 1\ndestinations = h:1\n[a]\npattern = x\ndestinations = h:1\ncontinue = perhaps\n", `r.conf:7: section [a]: continue:`},
		{"key before section", "pattern = x\n", `r.conf:1: "pattern = x" before the first [section]`},
		{"no equals", "[d]\ndefault true\n", `r.conf:2: want "key = value"`},
		{"unclosed header", "# c\n[d\n", `r.conf:2: section header "[d" has no ']'`},
		{"duplicate section", "[d]\ndefault = 1\ndestinations = h:1\n[d]\n", "r.conf:4: section [d] appears twice (first at line 1)"},
		{"empty destinations", "[d]\ndefault = 1\ndestinations = ,\n", "r.conf:3: section [d]: destinations is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules(strings.NewReader(tt.conf), "r.conf")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseRules error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestParseDestination(t *testing.T) {
	tests := []struct{ in, want string }{
		{"carbon:2003", "carbon:2003"},
		{"10.0.0.1:2004:a", "10.0.0.1:2004"},
		{"[::1]:2003", "[::1]:2003"},
		{"[fe80::1]:2004:b", "[fe80::1]:2004"},
	}
	for _, tt := range tests {
		if got, err := parseDestination(tt.in); err != nil || got != tt.want {
			t.Errorf("parseDestination(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "host", ":2003", "host:0", "[::1", "[::1]", "ho st:1"} {
		if _, err := parseDestination(bad); err == nil {
			t.Errorf("parseDestination(%q) accepted", bad)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(rulesConf)
	f.Add("[d]\ndefault = true\ndestinations = h:1\n")
	f.Fuzz(func(t *testing.T, conf string) {
		rules, err := ParseRules(strings.NewReader(conf), "f.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf") && !strings.HasPrefix(err.Error(), "read f.conf") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if len(rules) == 0 || rules[len(rules)-1].Pattern != nil {
			t.Fatalf("rules without a default rule last: %+v", rules)
		}
		for _, r := range rules {
			for _, d := range r.Destinations {
				if _, err := parseDestination(d); err != nil {
					t.Errorf("accepted rule has a bad destination %q: %v", d, err)
				}
			}
		}
		_ = Route(rules, "a.b.c")
	})
}
