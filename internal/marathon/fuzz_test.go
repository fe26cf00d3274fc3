package marathon

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzFromMarathon checks that FromMarathon never panics, fails only with an
// *Error, and that every app it reads and that validates survives a
// ToMarathon → FromMarathon round trip unchanged.
func FuzzFromMarathon(f *testing.F) {
	for _, s := range []string{
		docsApp,
		`{"id":"/a","cmd":"x","portDefinitions":[{"port":80}],"requirePorts":true}`,
		`{"id":"/a","networks":[{"mode":"container/bridge"}],"container":{"type":"DOCKER","docker":{"image":"i"},"portMappings":[{"containerPort":80}]}}`,
		`{"id":"/a","cmd":"x","healthChecks":[{"protocol":"COMMAND","command":{"value":"true"}}],"residency":{}}`,
		`{"id":"a","args":["x"],"instances":0,"fetch":[{"uri":"file:///a.tgz","extract":false}],"uris":["http://h/x"]}`,
		`{"id":"/a","cmd":"x","constraints":[["rack","MAX_PER",2]],"env":{"A":{"secret":"b"}}}`,
		`[]`, `null`, `{"container":null}`, `{"id":"/a","healthChecks":[null,1,{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := FromMarathon(b)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not an *Error", err)
			}
			_ = me.Error()
			return
		}
		fe := spec.Validate()
		_ = ErrorFromFields(fe)
		if len(fe) > 0 {
			return
		}
		out, err := json.Marshal(ToMarathon(spec, AppStatus{}))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := FromMarathon(out)
		if err != nil {
			t.Fatalf("FromMarathon of ToMarathon's %s: %v", out, err)
		}
		if !reflect.DeepEqual(back, spec) {
			t.Fatalf("round trip changed the spec\n%+v\n%+v\nthrough %s", spec, back, out)
		}
	})
}
