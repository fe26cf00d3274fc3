package carbon

import "testing"

func TestComponent(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "web-1", "web-1"},
		{"fqdn", "web-1.example.com", "web-1_example_com"},
		{"slash", "a/b", "a_b"},
		{"space", "my host", "my_host"},
		{"tab and newline", "a\tb\nc", "a_b_c"},
		{"dots", "..", "__"},
		{"empty", "", "_"},
		{"unicode kept", "hôte", "hôte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Component(tt.in); got != tt.want {
				t.Errorf("Component(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
